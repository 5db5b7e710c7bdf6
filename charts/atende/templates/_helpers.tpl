{{- define "atende.fullname" -}}
{{- printf "%s" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "atende.labels" -}}
app.kubernetes.io/name: atende
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "atende.selector" -}}
app.kubernetes.io/name: atende
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* image.digest, when set, pins the image whatever the tag says. */}}
{{- define "atende.image" -}}
{{- with .Values.image.digest -}}
{{ $.Values.image.repository }}@{{ . }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end -}}

{{- define "atende.secretName" -}}
{{ .Values.existingSecret | default (printf "%s-secrets" (include "atende.fullname" .)) }}
{{- end -}}

{{/* The Secret's keys: value under `secrets` → environment variable. The first three are required. */}}
{{- define "atende.secretKeys" -}}
databaseUrl: ATENDE_DATABASE_URL
redisUrl: ATENDE_REDIS_URL
secretKey: ATENDE_SECRET_KEY
cacheRedisUrl: ATENDE_CACHE_REDIS_URL
geminiApiKey: ATENDE_GEMINI_API_KEY
previousSecretKeys: ATENDE_PREVIOUS_SECRET_KEYS
{{- end -}}

{{/*
Keys only the migration Jobs read: the schema owner's URL (docs/operations.md, Database roles).
They are in the Secret, never in the environment of the Deployments, which run as the runtime role.
*/}}
{{- define "atende.migrationSecretKeys" -}}
migrationDatabaseUrl: ATENDE_MIGRATION_DATABASE_URL
{{- end -}}

{{- define "atende.requiredSecrets" -}}
[databaseUrl, redisUrl, secretKey]
{{- end -}}

{{/*
The ConfigMap's data, shared by the release's ConfigMap and the migration hook's own copy (at
pre-install the release's does not exist yet). Every key of `config` is a setting of
services/core/config.py in camelCase: turnGiveUpAfterSeconds → ATENDE_TURN_GIVE_UP_AFTER_SECONDS.
Numbers go through toJson: Helm reads them as floats, and %v would print 16777216 as 1.6777216e+07.
The chart sets the metrics port and the worker's shutdown grace (its pod's
terminationGracePeriodSeconds) from worker values, and the data directory.
*/}}
{{- define "atende.configData" -}}
{{- range $key, $value := .Values.config }}
ATENDE_{{ $key | snakecase | upper }}: {{ if kindIs "string" $value }}{{ $value | quote }}{{ else }}{{ toJson $value | quote }}{{ end }}
{{- end }}
ATENDE_WORKER_METRICS_PORT: {{ .Values.worker.metricsPort | toJson | quote }}
ATENDE_WORKER_SHUTDOWN_GRACE_SECONDS: {{ .Values.worker.terminationGracePeriodSeconds | toJson | quote }}
ATENDE_DATA_DIR: /var/lib/atende
{{- end -}}

{{/* The Secret's data, shared by the release's Secret and the migration hook's own copy. */}}
{{- define "atende.secretData" -}}
{{- $required := include "atende.requiredSecrets" . | fromYamlArray }}
{{- $keys := merge (include "atende.secretKeys" . | fromYaml) (include "atende.migrationSecretKeys" . | fromYaml) }}
{{- range $value, $env := $keys }}
{{- $given := index $.Values.secrets $value }}
{{- if has $value $required }}
{{ $env }}: {{ required (printf "secrets.%s (or existingSecret) is required" $value) $given | quote }}
{{- else if kindIs "slice" $given }}
{{ $env }}: {{ toJson $given | quote }}
{{- else if $given }}
{{ $env }}: {{ $given | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{/*
Settings and secrets as environment, the same for every process (Deployments, hook and rollback
Jobs). Usage: include "atende.envFrom" (dict "root" $ "config" <ConfigMap> "secret" <Secret>
["migration" true]); "migration" adds the keys only migrations read; "atende.env" names the
release's own.
*/}}
{{- define "atende.envFrom" -}}
{{- $required := include "atende.requiredSecrets" .root | fromYamlArray }}
envFrom:
  - configMapRef:
      name: {{ .config }}
  {{- with .root.Values.extraEnvFrom }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
env:
  {{- range $value, $env := include "atende.secretKeys" .root | fromYaml }}
  - name: {{ $env }}
    valueFrom: {secretKeyRef: {name: {{ $.secret }}, key: {{ $env }}{{ if not (has $value $required) }}, optional: true{{ end }}}}
  {{- end }}
  {{- if .migration }}
  {{- range $value, $env := include "atende.migrationSecretKeys" .root | fromYaml }}
  - name: {{ $env }}
    valueFrom: {secretKeyRef: {name: {{ $.secret }}, key: {{ $env }}, optional: true}}
  {{- end }}
  {{- end }}
  {{- with .root.Values.extraEnv }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end -}}

{{- define "atende.env" -}}
{{ include "atende.envFrom" (dict "root" . "config" (printf "%s-config" (include "atende.fullname" .)) "secret" (include "atende.secretName" .)) }}
{{- end -}}

{{/* Rollouts follow config changes: the pods carry the hash of what they read. */}}
{{- define "atende.checksums" -}}
checksum/config: {{ include (print $.Template.BasePath "/config.yaml") . | sha256sum }}
checksum/secret: {{ include (print $.Template.BasePath "/secret.yaml") . | sha256sum }}
{{- end -}}

{{/*
A pod template's metadata: the component's selector labels plus podLabels, podAnnotations (and,
for long-running pods, the config checksums).
Usage: include "atende.podMetadata" (dict "root" $ "component" "api" "checksums" true)
*/}}
{{- define "atende.podMetadata" -}}
labels:
  {{- include "atende.selector" . | nindent 2 }}
  {{- with .root.Values.podLabels }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- if or .checksums .root.Values.podAnnotations }}
annotations:
  {{- if .checksums }}
  {{- include "atende.checksums" .root | nindent 2 }}
  {{- end }}
  {{- with .root.Values.podAnnotations }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end }}
{{- end -}}

{{/*
Where a component's pods run and what they pull with: imagePullSecrets (global's and the chart's),
nodeSelector, tolerations, affinity and topologySpreadConstraints from that component's values. A
spread constraint without a labelSelector gets the component's own pods.
Usage: include "atende.scheduling" (dict "root" $ "component" "api" "values" .Values.api)
*/}}
{{- define "atende.scheduling" -}}
{{- $global := .root.Values.global | default dict }}
{{- with concat ($global.imagePullSecrets | default list) (.root.Values.imagePullSecrets | default list) }}
imagePullSecrets:
  {{- range . }}
  - name: {{ if kindIs "string" . }}{{ . }}{{ else }}{{ .name }}{{ end }}
  {{- end }}
{{- end }}
{{- with .values.nodeSelector }}
nodeSelector: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.tolerations }}
tolerations: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.affinity }}
affinity: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.topologySpreadConstraints }}
{{- $selector := include "atende.selector" $ | fromYaml }}
topologySpreadConstraints:
  {{- range . }}
  {{- $constraint := hasKey . "labelSelector" | ternary . (set (deepCopy .) "labelSelector" (dict "matchLabels" $selector)) }}
  - {{- toYaml $constraint | nindent 4 }}
  {{- end }}
{{- end }}
{{- end -}}

{{- define "atende.podSecurity" -}}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- end -}}

{{- define "atende.containerSecurity" -}}
securityContext:
  {{- toYaml .Values.securityContext | nindent 2 }}
{{- end -}}

{{/*
Whether the cluster serves an optional API ("group/version/Kind"), so resources of CRDs that are
not installed (KEDA, prometheus-operator) are left out instead of failing the install. A render
without a cluster (helm template, GitOps) can say the API is there through values.assumeApis.
Usage: include "atende.hasApi" (dict "root" $ "api" "keda.sh/v1alpha1/ScaledObject")
*/}}
{{- define "atende.hasApi" -}}
{{- if or (.root.Capabilities.APIVersions.Has .api) (has .api .root.Values.assumeApis) -}}true{{- end -}}
{{- end -}}

{{/*
Who owns the worker's replica count: "keda", "hpa" or "" (nobody: worker.replicas). keda falls
back to an HPA on CPU when the cluster does not serve KEDA's ScaledObject.
*/}}
{{- define "atende.autoscaler" -}}
{{- $a := .Values.autoscaling }}
{{- if not (has $a.mode (list "keda" "hpa" "none")) }}
{{- fail (printf "autoscaling.mode must be keda, hpa or none (got %q)" (toString $a.mode)) }}
{{- end }}
{{- if and (ne $a.mode "none") (gt (int $a.minReplicas) (int $a.maxReplicas)) }}
{{- fail (printf "autoscaling.minReplicas (%d) is above autoscaling.maxReplicas (%d)" (int $a.minReplicas) (int $a.maxReplicas)) }}
{{- end }}
{{- if and (eq $a.mode "keda") (include "atende.hasApi" (dict "root" . "api" "keda.sh/v1alpha1/ScaledObject")) -}}
keda
{{- else if ne $a.mode "none" -}}
hpa
{{- end }}
{{- end -}}

{{/*
A container's scratch mounts (emptyDir: the root filesystem is read-only) plus extraVolumeMounts,
and the pod's matching volumes plus extraVolumes.
Usage: include "atende.volumeMounts" (dict "root" $ "scratch" (dict "tmp" "/tmp")), and
include "atende.volumes" (dict "root" $ "scratch" (dict "tmp" "/tmp")) in the pod spec.
*/}}
{{- define "atende.volumeMounts" -}}
volumeMounts:
  {{- range $name, $path := .scratch }}
  - {name: {{ $name }}, mountPath: {{ $path }}}
  {{- end }}
  {{- with .root.Values.extraVolumeMounts }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end -}}

{{- define "atende.volumes" -}}
volumes:
  {{- range $name, $_ := .scratch }}
  - {name: {{ $name }}, emptyDir: {}}
  {{- end }}
  {{- with .root.Values.extraVolumes }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end -}}

{{/*
A migration Job (the upgrade hook, the rollback's downgrade): the Deployments' environment (and
ATENDE_MIGRATION_DATABASE_URL, when the Secret has it), image,
security and scheduling (migrations.*), a run that either finishes or fails within
migrations.activeDeadlineSeconds.
Usage: include "atende.migrationJob" (dict "root" $ "name" N "args" A "env" <atende.envFrom dict>
"backoffLimit" B ["annotations" M] ["serviceAccount" S])
*/}}
{{- define "atende.migrationJob" -}}
{{- $root := .root }}
apiVersion: batch/v1
kind: Job
metadata:
  name: {{ .name }}
  labels: {{- include "atende.labels" $root | nindent 4 }}
    app.kubernetes.io/component: migrate
  {{- with .annotations }}
  annotations: {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  backoffLimit: {{ .backoffLimit }}
  activeDeadlineSeconds: {{ $root.Values.migrations.activeDeadlineSeconds }}
  template:
    metadata: {{- include "atende.podMetadata" (dict "root" $root "component" "migrate") | nindent 6 }}
    spec:
      restartPolicy: Never
      serviceAccountName: {{ .serviceAccount | default .name }}
      automountServiceAccountToken: false
      {{- include "atende.podSecurity" $root | nindent 6 }}
      {{- include "atende.scheduling" (dict "root" $root "component" "migrate" "values" $root.Values.migrations) | nindent 6 }}
      containers:
        - name: migrate
          image: {{ include "atende.image" $root }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          args: {{ toJson .args }}
          {{- include "atende.envFrom" (merge (dict "migration" true) .env) | nindent 10 }}
          resources: {{- toYaml $root.Values.migrations.resources | nindent 12 }}
          {{- include "atende.containerSecurity" $root | nindent 10 }}
          {{- include "atende.volumeMounts" (dict "root" $root "scratch" (dict "tmp" "/tmp")) | nindent 10 }}
      {{- include "atende.volumes" (dict "root" $root "scratch" (dict "tmp" "/tmp")) | nindent 6 }}
{{- end -}}

{{/* KEDA's trigger query (the helm test pod runs it too): the ready-job backlog of this namespace. */}}
{{- define "atende.kedaQuery" -}}
max(atende_queue_ready_jobs{namespace="{{ .Release.Namespace }}"})
{{- end -}}
