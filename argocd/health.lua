-- Argo CD health check for every mhsm.dev kind (ManagedHSM, HSMSecurityDomain, HSMKey, HSMRoleDefinition,
-- HSMRoleAssignment), in Argo CD's resource customization format: `obj` is the live object, the script returns
-- {status = Healthy|Progressing|Degraded|Suspended, message = ...}.
--
-- Mapping (the conditions are written by managed-hsm-operator, see CRDS.md):
--   no status yet, or status.observedGeneration behind metadata.generation  -> Progressing
--   Synced=False reason ReconcilePaused (mhsm.dev/paused or managementPolicies [])  -> Suspended
--   Drifted=True (driftPolicy Report found out-of-band changes)              -> Degraded
--   Synced=False (the last pass failed: AuthorizationFailed, AdoptionBlocked...) -> Degraded
--   Ready=True and Synced=True                                               -> Healthy
--   Ready=False while Creating / Deleting / WaitingForHSM                    -> Progressing
--   Ready=False otherwise                                                    -> Degraded
-- Written for gopher-lua (Lua 5.1 semantics), as Argo CD runs it.
local hs = { status = "Progressing", message = "Waiting for managed-hsm-operator to observe the object" }

if obj.status == nil or obj.status.conditions == nil then
  return hs
end

local generation = nil
if obj.metadata ~= nil then
  generation = obj.metadata.generation
end
if generation ~= nil and obj.status.observedGeneration ~= nil and obj.status.observedGeneration < generation then
  hs.message = "Waiting for the operator to reconcile generation " .. tostring(generation)
  return hs
end

local ready, synced, drifted = nil, nil, nil
for _, condition in ipairs(obj.status.conditions) do
  if condition.type == "Ready" then
    ready = condition
  elseif condition.type == "Synced" then
    synced = condition
  elseif condition.type == "Drifted" then
    drifted = condition
  end
end

local function describe(condition)
  local text = condition.reason or condition.type
  if condition.message ~= nil and condition.message ~= "" then
    text = text .. ": " .. condition.message
  end
  return text
end

if synced ~= nil and synced.status == "False" and synced.reason == "ReconcilePaused" then
  hs.status = "Suspended"
  hs.message = describe(synced)
  return hs
end

if drifted ~= nil and drifted.status == "True" then
  hs.status = "Degraded"
  hs.message = "Drifted from the declared state: " .. describe(drifted)
  return hs
end

if synced ~= nil and synced.status == "False" then
  hs.status = "Degraded"
  hs.message = describe(synced)
  return hs
end

if ready ~= nil and ready.status == "True" and (synced == nil or synced.status == "True") then
  hs.status = "Healthy"
  hs.message = describe(ready)
  return hs
end

if ready ~= nil and ready.status == "False" then
  local reason = ready.reason or ""
  if reason == "Creating" or reason == "Deleting" or reason == "WaitingForHSM" or reason == "Provisioning" then
    hs.status = "Progressing"
  else
    hs.status = "Degraded"
  end
  hs.message = describe(ready)
  return hs
end

return hs
