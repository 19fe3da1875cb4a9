{{/* Names, labels and the derived endpoints shared by every template. */}}

{{- define "mhsm.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "mhsm.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "mhsm.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "mhsm.labels" -}}
helm.sh/chart: {{ include "mhsm.chart" . }}
app.kubernetes.io/name: {{ include "mhsm.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "mhsm.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mhsm.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "mhsm.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "mhsm.managementServiceAccount" -}}
{{- default (printf "%s-management" (include "mhsm.fullname" .)) .Values.management.serviceAccount.name }}
{{- end }}

{{- define "mhsm.dataServiceAccount" -}}
{{- default (printf "%s-data" (include "mhsm.fullname" .)) .Values.data.serviceAccount.name }}
{{- end }}

{{- define "mhsm.emulatorName" -}}
{{- printf "%s-emulator" (include "mhsm.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The in-cluster DNS name of the emulator: its certificate and the HSM URLs it hands out use it. */}}
{{- define "mhsm.emulatorHost" -}}
{{- printf "%s.%s.svc" (include "mhsm.emulatorName" .) .Release.Namespace }}
{{- end }}

{{- define "mhsm.emulatorURL" -}}
{{- printf "https://%s:%d" (include "mhsm.emulatorHost" .) (int .Values.emulator.port) }}
{{- end }}

{{- define "mhsm.emulatorTLSSecret" -}}
{{- default (printf "%s-tls" (include "mhsm.emulatorName" .)) .Values.emulator.tls.existingSecret }}
{{- end }}

{{/* The Secret holding the PEM bundle the controllers trust, or empty for the system trust store. */}}
{{- define "mhsm.caSecret" -}}
{{- if .Values.caBundle.existingSecret }}{{ .Values.caBundle.existingSecret }}{{- else if .Values.emulator.enabled }}{{ include "mhsm.emulatorTLSSecret" . }}{{- end }}
{{- end }}

{{- define "mhsm.caKey" -}}
{{- if .Values.caBundle.existingSecret }}{{ .Values.caBundle.key }}{{- else }}ca.crt{{- end }}
{{- end }}

{{- define "mhsm.firstTenant" -}}
{{- (index .Values.emulator.config.tenants 0).id }}
{{- end }}

{{/* Arguments selecting the watched namespaces. */}}
{{- define "mhsm.namespaceArgs" -}}
{{- if .Values.watchNamespaces }}
{{- range .Values.watchNamespaces }}
- --namespace={{ . }}
{{- end }}
{{- else }}
- --all-namespaces
{{- end }}
{{- end }}

{{/* Common controller environment: CA trust and sync interval. */}}
{{- define "mhsm.commonEnv" -}}
- name: HSM_SYNC_INTERVAL
  value: {{ .Values.syncInterval | quote }}
{{- if include "mhsm.caSecret" . }}
- name: HSM_CA_BUNDLE
  value: /etc/managed-hsm-operator/ca/{{ include "mhsm.caKey" . }}
{{- end }}
{{- if .Values.metrics.enabled }}
- name: HSM_METRICS_PORT
  value: {{ .Values.metrics.port | quote }}
{{- end }}
{{- end }}

{{/* What kopf itself needs: events, CRD and namespace discovery, and (with peering) its peering objects. */}}
{{- define "mhsm.kopfRules" -}}
- apiGroups: ["", events.k8s.io]
  resources: [events]
  verbs: [create, patch]
- apiGroups: [apiextensions.k8s.io]
  resources: [customresourcedefinitions]
  verbs: [get, list, watch]
- apiGroups: [""]
  resources: [namespaces]
  verbs: [get, list, watch]
{{- if .Values.peering.enabled }}
- apiGroups: [kopf.dev]
  resources: [clusterkopfpeerings, kopfpeerings]
  verbs: [get, list, watch, patch]
{{- end }}
{{- end }}
