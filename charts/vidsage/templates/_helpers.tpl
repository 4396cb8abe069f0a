{{- define "vidsage.image" -}}
{{- $root := index . 0 -}}{{- $name := index . 1 -}}
{{- if $root.Values.image.registry -}}{{ $root.Values.image.registry }}/{{- end -}}vidsage-{{ $name }}:{{ $root.Values.image.tag }}
{{- end -}}

{{- define "vidsage.env" -}}
- name: VIDSAGE_NATS__URL
  value: {{ .Values.nats.url | quote }}
- name: VIDSAGE_S3__ENDPOINT
  value: {{ .Values.s3.endpoint | quote }}
- name: VIDSAGE_S3__BUCKET
  value: {{ .Values.s3.bucket | quote }}
- name: VIDSAGE_S3__ACCESS_KEY
  valueFrom: {secretKeyRef: {name: {{ .Values.s3.existingSecret }}, key: access-key}}
- name: VIDSAGE_S3__SECRET_KEY
  valueFrom: {secretKeyRef: {name: {{ .Values.s3.existingSecret }}, key: secret-key}}
- name: VIDSAGE_LOG_FORMAT
  value: json
{{- end -}}
