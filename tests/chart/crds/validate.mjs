// Validates custom resources against their operators' own CRD schemas (KEDA's and
// prometheus-operator's, as generated into @kubernetes-models). Reads a JSON array of manifests
// on stdin; prints a JSON array of {kind, name, errors} for each one it knows, errors empty when
// valid. Unknown kinds are reported as such so a typo cannot pass unvalidated.
import * as keda from "@kubernetes-models/keda/keda.sh/v1alpha1";
import * as monitoringV1 from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1";
import * as monitoringV1alpha1 from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1alpha1";

const GROUPS = {
  "keda.sh/v1alpha1": keda,
  "monitoring.coreos.com/v1": monitoringV1,
  "monitoring.coreos.com/v1alpha1": monitoringV1alpha1,
};

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const manifests = JSON.parse(Buffer.concat(chunks).toString("utf8"));

const results = manifests.map((manifest) => {
  const { apiVersion, kind, metadata = {} } = manifest;
  const Model = GROUPS[apiVersion]?.[kind];
  const result = { apiVersion, kind, name: metadata.name ?? null, known: Boolean(Model), errors: [] };
  if (!Model) return result;
  try {
    new Model(manifest).validate();
  } catch (error) {
    result.errors = (error.errors ?? [{ instancePath: "", message: error.message }]).map(
      (e) => `${e.instancePath || "/"} ${e.message}`,
    );
  }
  return result;
});
process.stdout.write(JSON.stringify(results));
