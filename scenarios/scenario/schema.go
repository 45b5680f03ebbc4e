package scenario

import _ "embed"

// Schema is scenario.schema.json, the JSON Schema (draft 2020-12) of the
// file format, for editors and for tools that check a scenario without
// shoal. Parse checks more than a schema can express: that the nodes and
// replicasets named exist in the cluster, that replication_factor divides
// instances, that steps and model proposals start before the run ends,
// that a latency's max is not below its min, and that cluster.queue's
// durations are in range.
//
//go:embed scenario.schema.json
var Schema []byte
