{{/* The six services, in pipeline order (the notifier last: it reads every event). */}}
{{- define "vidsage.services" -}}
gateway ingest transcriber indexer chat notifier
{{- end -}}

{{/* <release>-<service>, the name of a service's Deployment, Service, HPA, PDB... */}}
{{- define "vidsage.name" -}}
{{- $root := index . 0 -}}{{- $name := index . 1 -}}
{{- printf "%s-%s" $root.Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "vidsage.selectorLabels" -}}
{{- $root := index . 0 -}}{{- $name := index . 1 -}}
app.kubernetes.io/name: vidsage
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ $name }}
{{- end -}}

{{- define "vidsage.labels" -}}
{{- $root := index . 0 -}}
{{ include "vidsage.selectorLabels" . }}
app.kubernetes.io/part-of: vidsage
app.kubernetes.io/version: {{ $root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ $root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" $root.Chart.Name $root.Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* Image of a service: <registry>/vidsage-<name>[-cpu]:<tag>, or the service's own image.repository/tag. */}}
{{- define "vidsage.image" -}}
{{- $root := index . 0 -}}{{- $name := index . 1 -}}
{{- $svc := index $root.Values $name -}}
{{- $image := $name -}}
{{- if and (eq $name "transcriber") (not $svc.gpu.enabled) -}}{{- $image = "transcriber-cpu" -}}{{- end -}}
{{- $repo := $svc.image.repository -}}
{{- if not $repo -}}
{{- $repo = printf "vidsage-%s" $image -}}
{{- if $root.Values.image.registry -}}{{- $repo = printf "%s/%s" (trimSuffix "/" $root.Values.image.registry) $repo -}}{{- end -}}
{{- end -}}
{{- $tag := $svc.image.tag | default $root.Values.image.tag | default $root.Chart.AppVersion -}}
{{- printf "%s:%s" $repo (toString $tag) -}}
{{- end -}}

{{- define "vidsage.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- .Values.serviceAccount.name | default (printf "%s-vidsage" .Release.Name) -}}
{{- else -}}
{{- .Values.serviceAccount.name | default "default" -}}
{{- end -}}
{{- end -}}

{{/* Endpoints of the dependencies. */}}
{{- define "vidsage.natsUrl" -}}
{{- if .Values.nats.url -}}{{ .Values.nats.url }}
{{- else if .Values.nats.enabled -}}nats://{{ .Release.Name }}-nats:4222
{{- else -}}{{ fail "nats.url is required when nats.enabled is false (the external NATS JetStream URL)" }}
{{- end -}}
{{- end -}}

{{- define "vidsage.natsMonitoringEndpoint" -}}
{{- if .Values.nats.monitoringEndpoint -}}{{ .Values.nats.monitoringEndpoint }}
{{- else if .Values.nats.enabled -}}{{ .Release.Name }}-nats-headless.{{ .Release.Namespace }}.svc.cluster.local:8222
{{- else -}}{{ fail "nats.monitoringEndpoint (host:port of the NATS monitoring endpoint) is required for the KEDA trigger when nats.enabled is false" }}
{{- end -}}
{{- end -}}

{{- define "vidsage.qdrantUrl" -}}
{{- if .Values.qdrant.url -}}{{ .Values.qdrant.url }}
{{- else if .Values.qdrant.enabled -}}http://{{ .Release.Name }}-qdrant:6333
{{- else -}}{{ fail "qdrant.url is required when qdrant.enabled is false (the external Qdrant server URL)" }}
{{- end -}}
{{- end -}}

{{- define "vidsage.s3Endpoint" -}}
{{- if and .Values.s3.endpoint .Values.s3Bundled.enabled -}}
{{- fail "s3.endpoint and s3Bundled.enabled are exclusive: use the external endpoint or the bundled evaluation store" -}}
{{- else if .Values.s3.endpoint -}}{{ .Values.s3.endpoint }}
{{- else if .Values.s3Bundled.enabled -}}http://{{ .Release.Name }}-s3:{{ .Values.s3Bundled.port }}
{{- else -}}{{ fail "s3.endpoint is required (an external S3 endpoint), or set s3Bundled.enabled=true with s3Bundled.image for an evaluation store" }}
{{- end -}}
{{- end -}}

{{/* Secrets: an existing Secret or an inline value, never both. */}}
{{- define "vidsage.s3Secret" -}}
{{- $s := .Values.s3 -}}
{{- if and $s.existingSecret (or $s.accessKey $s.secretKey) -}}
{{- fail "s3: give either s3.existingSecret or the inline s3.accessKey/s3.secretKey, not both" -}}
{{- else if $s.existingSecret -}}{{ $s.existingSecret }}
{{- else if and $s.accessKey $s.secretKey -}}{{ .Release.Name }}-s3-credentials
{{- else -}}{{ fail "s3: set s3.existingSecret (keys s3.accessKeyKey/s3.secretKeyKey) or both s3.accessKey and s3.secretKey" }}
{{- end -}}
{{- end -}}

{{- define "vidsage.llmSecret" -}}
{{- $s := .Values.chat.llmApiKey -}}
{{- if and $s.existingSecret $s.value -}}
{{- fail "chat.llmApiKey: give either existingSecret or value, not both" -}}
{{- else if $s.existingSecret -}}{{ $s.existingSecret }}
{{- else if $s.value -}}{{ .Release.Name }}-llm-api-key
{{- end -}}
{{- end -}}

{{- define "vidsage.qdrantSecret" -}}
{{- $s := .Values.indexer.qdrantApiKey -}}
{{- if and $s.existingSecret $s.value -}}
{{- fail "indexer.qdrantApiKey: give either existingSecret or value, not both" -}}
{{- else if $s.existingSecret -}}{{ $s.existingSecret }}
{{- else if $s.value -}}{{ .Release.Name }}-qdrant-api-key
{{- else if and .Values.qdrant.enabled (eq (toJson .Values.qdrant.apiKey) "true") -}}{{ .Release.Name }}-qdrant-apikey
{{- end -}}
{{- end -}}

{{- define "vidsage.qdrantSecretKey" -}}
{{- $s := .Values.indexer.qdrantApiKey -}}
{{- if or $s.existingSecret $s.value -}}{{ $s.key }}{{- else -}}api-key{{- end -}}
{{- end -}}

{{/* The gateway's Host allow-list (JSON): loopback, the Service's names, ingress and route hosts, extras. */}}
{{- define "vidsage.gatewayAllowedHosts" -}}
{{- $svc := include "vidsage.name" (list . "gateway") -}}
{{- $ns := .Release.Namespace -}}
{{- $hosts := list "localhost" "127.0.0.1" "::1" $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.cluster.local" $svc $ns) -}}
{{- if .Values.ingress.enabled }}{{ $hosts = append $hosts .Values.ingress.host }}{{ end -}}
{{- if .Values.httpRoute.enabled }}{{ $hosts = concat $hosts .Values.httpRoute.hostnames }}{{ end -}}
{{- $hosts = concat $hosts (.Values.gateway.allowedHosts | default list) -}}
{{- $hosts | uniq | toJson -}}
{{- end -}}

{{/* VIDSAGE_<GROUP>__<FIELD> from a map of settings fields. */}}
{{- define "vidsage.settingsEnv" -}}
{{- $group := index . 0 -}}{{- $settings := index . 1 -}}
{{- range $key := keys $settings | sortAlpha }}
{{- $v := index $settings $key }}
{{- if and (kindIs "float64" $v) (eq $v (float64 (int64 $v))) }}{{- $v = int64 $v }}{{- end }}
- name: {{ printf "VIDSAGE_%s__%s" (upper $group) (upper $key) }}
  value: {{ $v | toString | quote }}
{{- end }}
{{- end -}}

{{/*
NATS users (nats.auth): the permissions exported from vidsage.contracts.permissions by
`make schemas` into files/nats-permissions.json, one password per user in a Secret.
*/}}
{{- define "vidsage.natsPermissions" -}}
{{- $doc := .Files.Get "files/nats-permissions.json" | fromJson -}}
{{- if and .Values.nats.auth.enabled (ne .Values.nats.stream $doc.stream) -}}
{{- fail (printf "nats.stream %q: the NATS permissions (files/nats-permissions.json) are for the stream %q; regenerate them for yours or turn nats.auth.enabled off" .Values.nats.stream $doc.stream) -}}
{{- end -}}
{{- toJson $doc -}}
{{- end -}}

{{- define "vidsage.natsCredentialsSecret" -}}
{{- .Values.nats.auth.existingSecret | default (printf "%s-nats-credentials" .Release.Name) -}}
{{- end -}}

{{/* The environment of a NATS user: the bus, and with nats.auth the user's name and password. Call with (list $ <user>). */}}
{{- define "vidsage.natsEnv" -}}
{{- $root := index . 0 -}}{{- $user := index . 1 -}}
- name: VIDSAGE_NATS__URL
  value: {{ include "vidsage.natsUrl" $root | quote }}
- name: VIDSAGE_NATS__STREAM
  value: {{ $root.Values.nats.stream | quote }}
{{- if $root.Values.nats.enabled }}
{{- $servers := ternary (int $root.Values.nats.config.cluster.replicas) 1 (and $root.Values.nats.config.cluster.enabled true) }}
{{- if gt (int $root.Values.nats.replicas) $servers }}
{{- fail (printf "nats.replicas (%d) exceeds the NATS servers (%d): lower it or enable nats.config.cluster" (int $root.Values.nats.replicas) $servers) }}
{{- end }}
{{- end }}
- name: VIDSAGE_NATS__REPLICAS
  value: {{ $root.Values.nats.replicas | toString | quote }}
{{- if $root.Values.nats.auth.enabled }}
- name: VIDSAGE_NATS__USER
  value: {{ $user | quote }}
- name: VIDSAGE_NATS__PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ include "vidsage.natsCredentialsSecret" $root }}, key: {{ $user }}}
{{- end }}
{{- end -}}

{{- define "vidsage.signingSecret" -}}
{{- $s := .Values.gateway.signingSecret -}}
{{- if and $s.existingSecret $s.value -}}
{{- fail "gateway.signingSecret: give either existingSecret or value, not both" -}}
{{- else if $s.existingSecret -}}{{ $s.existingSecret }}
{{- else -}}{{ .Release.Name }}-signing-secret
{{- end -}}
{{- end -}}

{{- define "vidsage.webhookKeySecret" -}}
{{- $s := .Values.webhooks.secretKey -}}
{{- if and $s.existingSecret $s.value -}}
{{- fail "webhooks.secretKey: give either existingSecret or value, not both" -}}
{{- else if $s.existingSecret -}}{{ $s.existingSecret }}
{{- else -}}{{ .Release.Name }}-webhook-key
{{- end -}}
{{- end -}}

{{/* Environment every service shares: bus (as NATS user <service>), storage, logging, writable paths. Call with (list $ <service>). */}}
{{- define "vidsage.commonEnv" -}}
{{- $root := index . 0 -}}{{- $service := index . 1 -}}
{{ include "vidsage.natsEnv" (list $root $service) }}
{{- with $root }}
- name: VIDSAGE_S3__ENDPOINT
  value: {{ include "vidsage.s3Endpoint" . | quote }}
- name: VIDSAGE_S3__BUCKET
  value: {{ .Values.s3.bucket | quote }}
- name: VIDSAGE_S3__REGION
  value: {{ .Values.s3.region | quote }}
- name: VIDSAGE_S3__ACCESS_KEY
  valueFrom:
    secretKeyRef: {name: {{ include "vidsage.s3Secret" . }}, key: {{ .Values.s3.accessKeyKey }}}
- name: VIDSAGE_S3__SECRET_KEY
  valueFrom:
    secretKeyRef: {name: {{ include "vidsage.s3Secret" . }}, key: {{ .Values.s3.secretKeyKey }}}
- name: VIDSAGE_LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
- name: VIDSAGE_LOG_FORMAT
  value: json
- name: VIDSAGE_STATE_DIR
  value: /tmp/vidsage
- name: HOME
  value: /tmp
{{- end }}
{{- end -}}

{{/*
Worker probes (no HTTP port): the heartbeat file the service's event loop rewrites every 5 s
(VIDSAGE_HEALTH_FILE, VIDSAGE_HEALTH_INTERVAL_S default) from the moment it is ready to work,
i.e. after its model loaded and NATS, S3 and the catalog opened. A hung loop stops writing it.
Call with (list <max age in seconds> <require NATS: true/false>).
*/}}
{{- define "vidsage.healthFile" -}}/tmp/vidsage-health.json{{- end -}}

{{- define "vidsage.workerProbeCommand" -}}
{{- $maxAge := index . 0 -}}{{- $requireNats := index . 1 -}}
- python
- -m
- vidsage.health
- check
- {{ include "vidsage.healthFile" . }}
- --max-age-s
- {{ $maxAge | quote }}
{{- if $requireNats }}
- --require-nats
{{- end }}
{{- end -}}

{{/* Pod-level scheduling and security shared by every vidsage pod. */}}
{{- define "vidsage.podCommon" -}}
{{- $root := index . 0 -}}{{- $svc := index . 1 -}}
serviceAccountName: {{ include "vidsage.serviceAccountName" $root }}
automountServiceAccountToken: {{ $root.Values.serviceAccount.automountToken }}
securityContext:
  {{- toYaml $root.Values.podSecurityContext | nindent 2 }}
terminationGracePeriodSeconds: {{ $svc.terminationGracePeriodSeconds }}
{{- with $root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $svc.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $svc.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $svc.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* The most pods of a worker that share its consumer: KEDA's or the HPA's maximum when it is
autoscaled, else its replica count. Call with (list $ <service>). */}}
{{- define "vidsage.workerProcesses" -}}
{{- $root := index . 0 -}}{{- $name := index . 1 -}}
{{- $svc := index $root.Values $name -}}
{{- if and (eq $name "transcriber") (include "vidsage.kedaOn" $root) -}}{{ $svc.keda.maxReplicaCount }}
{{- else if and (hasKey $svc "autoscaling") $svc.autoscaling.enabled -}}{{ $svc.autoscaling.maxReplicas }}
{{- else -}}{{ $svc.replicas }}
{{- end -}}
{{- end -}}

{{/* Is the ScaledObject rendered? "true" or "". */}}
{{- define "vidsage.kedaOn" -}}
{{- $k := .Values.transcriber.keda -}}
{{- if and $k.enabled (or $k.skipCapabilityCheck (.Capabilities.APIVersions.Has "keda.sh/v1alpha1")) -}}true{{- end -}}
{{- end -}}

{{- define "vidsage.serviceMonitorOn" -}}
{{- $m := .Values.serviceMonitor -}}
{{- if and $m.enabled (or $m.skipCapabilityCheck (.Capabilities.APIVersions.Has "monitoring.coreos.com/v1")) -}}true{{- end -}}
{{- end -}}
