{{/* The objects' name: the release name when it names the chart already, else both. */}}
{{- define "wco.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels of every object: those of manifests/ plus Helm's own. */}}
{{- define "wco.labels" -}}
app.kubernetes.io/name: webhook-cert-operator
app.kubernetes.io/part-of: webhook-cert-operator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* The operator Pods' selector (as manifests/deployment.yaml, plus the release). */}}
{{- define "wco.selector" -}}
app.kubernetes.io/name: webhook-cert-operator
app.kubernetes.io/component: operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "wco.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{- define "wco.solverImage" -}}
{{- printf "%s:%s" .Values.solverImage.repository (.Values.solverImage.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{/* The rules for WebhookEndpoints and the objects made next to them (manifests/rbac.yaml
explains each one); cluster-wide in a ClusterRole, or in a Role per watched namespace. */}}
{{- define "wco.endpointRules" -}}
- apiGroups: [webhookcert.dev]
  resources: [webhookendpoints]
  verbs: [get, list, watch, patch]
- apiGroups: [webhookcert.dev]
  resources: [webhookendpoints/status]
  verbs: [patch]
- apiGroups: [webhookcert.dev]
  resources: [webhookendpoints/finalizers]
  verbs: [update]
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, create, update]
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get]
- apiGroups: [""]
  resources: [pods, services]
  verbs: [list, create, delete]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [list, create, delete, patch]
- apiGroups: [networking.k8s.io]
  resources: [ingresses]
  verbs: [list, create, delete]
- apiGroups: [gateway.networking.k8s.io]
  resources: [httproutes]
  verbs: [list, create, delete]
{{- if .Values.rbac.restartTargets }}
- apiGroups: [apps]
  resources: [deployments, statefulsets]
  verbs: [get, patch]
{{- end }}
- apiGroups: [""]
  resources: [events]
  verbs: [create]
{{- end -}}
