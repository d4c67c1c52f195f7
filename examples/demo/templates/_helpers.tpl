{{/* registry/repository:tag from an image map; the registry may be left out. */}}
{{- define "demo.image" -}}
{{- if .registry -}}
{{- printf "%s/%s:%s" .registry .repository (toString .tag) -}}
{{- else -}}
{{- printf "%s:%s" .repository (toString .tag) -}}
{{- end -}}
{{- end -}}

{{- define "demo.labels" -}}
app.kubernetes.io/name: demo
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
