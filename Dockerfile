# One image for both programs: `hsm-operator run --plane ...` (the controllers) and `hsm-emulator serve ...`
# (the emulated Managed HSM). The chart picks the program with the container args.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator ./operator
COPY hack/install-image.sh ./hack/install-image.sh
RUN bash hack/install-image.sh /opt/managed-hsm-operator /src

FROM python:3.11-slim
LABEL org.opencontainers.image.title="managed-hsm-operator" \
      org.opencontainers.image.description="Kubernetes operator and emulator for Azure Key Vault Managed HSM" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /opt/managed-hsm-operator /opt/managed-hsm-operator
ENV PATH=/opt/managed-hsm-operator/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
# Non-root, matching the chart's securityContext (runAsUser 10001); the emulator writes only to its data volume.
RUN useradd --uid 10001 --create-home --home-dir /home/app app && mkdir -p /var/lib/hsm-emulator \
    && chown 10001 /var/lib/hsm-emulator
USER 10001
WORKDIR /home/app
ENTRYPOINT []
CMD ["hsm-operator", "run", "--plane", "all", "--all-namespaces"]
