{{/*
What the operator may do in a namespace whose BotTenants it reconciles: the same rules as
k8s/rbac/operator.yaml (cluster-wide) and k8s/rbac/operator-namespaced.yaml (a Role per
watched namespace); tests/chart/test_rbac.py keeps all three equal. Secrets: get (the ones a
BotTenant references, refused unless labelled atende.dev/tenant: <its name>), list+watch (only
labelled ones: the operator's watch selects on the label), create (the generated
<name>-webhook Secret). No patch or update: it never writes to a Secret that exists.
*/}}
{{- define "atende.operatorTenantRules" -}}
- apiGroups: [atende.dev]
  resources: [bottenants]
  verbs: [get, list, watch, patch]
- apiGroups: [atende.dev]
  resources: [bottenants/status]
  verbs: [patch]
- apiGroups: [atende.dev]
  resources: [bottenants/finalizers]
  verbs: [update]
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, list, watch, create]
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get, list, watch]
- apiGroups: [""]
  resources: [events]
  verbs: [create]
{{- end }}
