{{/* Chart name, truncated to the 63 characters a DNS label allows. */}}
{{- define "pred-maint.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name: release-chart unless the release name already contains the chart name. */}}
{{- define "pred-maint.fullname" -}}
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

{{- define "pred-maint.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every resource. */}}
{{- define "pred-maint.labels" -}}
helm.sh/chart: {{ include "pred-maint.chart" . }}
{{ include "pred-maint.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: azure-pred-maint-ops
{{- end }}

{{/* Selector labels (immutable on a Deployment: never add to them). */}}
{{- define "pred-maint.selectorLabels" -}}
app.kubernetes.io/name: {{ include "pred-maint.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "pred-maint.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- .Values.serviceAccount.name | default (include "pred-maint.fullname" .) }}
{{- else }}
{{- .Values.serviceAccount.name | default "default" }}
{{- end }}
{{- end }}

{{/* image reference: repository@digest when a digest is set, else repository:tag. */}}
{{- define "pred-maint.image" -}}
{{- if .digest }}
{{- printf "%s@%s" .repository .digest }}
{{- else }}
{{- printf "%s:%s" .repository .tag }}
{{- end }}
{{- end }}

{{/* Name of the Secret that secretEnv keys come from ("" when there is none). */}}
{{- define "pred-maint.secretName" -}}
{{- if .Values.existingSecret }}
{{- .Values.existingSecret }}
{{- else if .Values.keyVault.enabled }}
{{- printf "%s-kv" (include "pred-maint.fullname" .) }}
{{- end }}
{{- end }}

{{/* The Secret the ingest workers' secretEnv keys come from: existingSecret, else the one their own
SecretProviderClass syncs (a synced Secret exists only while a pod mounts its class, and the workers
cannot mount the facade's: it authenticates as the facade's identity). "" when there is none. */}}
{{- define "pred-maint.ingestSecretName" -}}
{{- if .Values.existingSecret }}
{{- .Values.existingSecret }}
{{- else if and .Values.keyVault.enabled .Values.ingest.secretEnv }}
{{- printf "%s-ingest-kv" (include "pred-maint.fullname" .) }}
{{- end }}
{{- end }}

{{/* The Key Vault objects (name -> key in the synced Secret) whose keys the ingest workers read. */}}
{{- define "pred-maint.ingestKeyVaultObjects" -}}
{{- $wanted := values .Values.ingest.secretEnv }}
{{- $objects := dict }}
{{- range $name, $key := .Values.keyVault.objects }}
{{- if has $key $wanted }}
{{- $_ := set $objects $name $key }}
{{- end }}
{{- end }}
{{- toYaml $objects }}
{{- end }}

{{/* A SecretProviderClass for Key Vault through workload identity: (list root name clientId objects
component), syncing the objects (Key Vault secret name -> key) into the Secret <name>-kv. */}}
{{- define "pred-maint.secretProviderClass" -}}
{{- $root := index . 0 }}
{{- $name := index . 1 }}
{{- $objects := index . 3 -}}
apiVersion: secrets-store.csi.x-k8s.io/v1
kind: SecretProviderClass
metadata:
  name: {{ $name }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "pred-maint.labels" $root | nindent 4 }}
    {{- with index . 4 }}
    app.kubernetes.io/component: {{ . }}
    {{- end }}
spec:
  provider: azure
  parameters:
    usePodIdentity: "false"
    clientID: {{ index . 2 | quote }}
    keyvaultName: {{ $root.Values.keyVault.name | quote }}
    tenantId: {{ $root.Values.keyVault.tenantId | quote }}
    objects: |
      array:
      {{- range $object, $_ := $objects }}
        - |
          objectName: {{ $object }}
          objectType: secret
      {{- end }}
  secretObjects:
    - secretName: {{ $name }}-kv
      type: Opaque
      data:
        {{- range $object, $key := $objects }}
        - objectName: {{ $object }}
          key: {{ $key }}
        {{- end }}
{{- end }}

{{/* Container security context shared by both containers. */}}
{{- define "pred-maint.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
runAsNonRoot: true
runAsUser: {{ .Values.runAsUser }}
runAsGroup: {{ .Values.runAsUser }}
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* env entries from a secretEnv map (variable name -> key in the Secret). */}}
{{- define "pred-maint.secretEnv" -}}
{{- $secret := index . 0 }}
{{- range $name, $key := index . 1 }}
- name: {{ $name }}
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $key }}
{{- end }}
{{- end }}
