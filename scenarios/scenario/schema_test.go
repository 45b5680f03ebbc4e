package scenario

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
)

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(Schema))
	if err != nil {
		t.Fatalf("scenario.schema.json is not JSON: %v", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource("scenario.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("scenario.schema.json")
	if err != nil {
		t.Fatalf("compiling scenario.schema.json: %v", err)
	}
	return sch
}

// yamlToJSON converts a scenario file to the JSON value a schema validator
// takes.
func yamlToJSON(t *testing.T, data []byte) any {
	t.Helper()
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		t.Fatalf("YAML: %v", err)
	}
	j, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("JSON: %v", err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func TestSchemaAcceptsValidScenarios(t *testing.T) {
	sch := compileSchema(t)
	for name, data := range validFiles(t) {
		t.Run(name, func(t *testing.T) {
			if err := sch.Validate(yamlToJSON(t, data)); err != nil {
				t.Errorf("the schema rejects %s: %v", name, err)
			}
			s, err := Parse(name, data)
			if err != nil {
				t.Fatal(err)
			}
			if err := sch.Validate(yamlToJSON(t, Marshal(s))); err != nil {
				t.Errorf("the schema rejects Marshal(%s): %v", name, err)
			}
		})
	}
}

// TestSchemaRejectsInvalidScenarios checks the malformed files whose fault
// a schema can see.
func TestSchemaRejectsInvalidScenarios(t *testing.T) {
	sch := compileSchema(t)
	rejected := map[string]bool{
		"misspelt fault": true, "misspelt field": true, "missing name": true, "bad name": true,
		"instances out of range": true, "instances type": true, "loss range": true, "unknown dist": true,
		"duration without unit": true, "unknown workload kind": true, "keys on config": true,
		"workload target word": true, "clients range": true, "shape on kill": true, "at and every": true,
		"no timing": true, "restart for": true, "shape and components": true, "unknown shape": true,
		"group on halves": true, "group on random target": true, "link nothing": true, "clock two": true,
		"drift range": true, "strobe period": true, "disk errors": true, "pick and fault": true,
		"pick weight": true, "weight outside pick": true, "empty pick": true, "unknown check": true,
		"expect": true, "null value": true, "bool type": true, "unknown top-level": true,
		"pick alternative missing fault": true, "pick step with target": true, "latency missing max": true,
		"wrong section type": true, "several errors": true, "node name word": true, "not a mapping": true,
		"objects without model": true, "unknown model": true, "cas on objects": true, "fields on model": true,
		"model without at or model": true, "at and model on kv": true,
		"pipeline without model": true, "unknown pipeline": true, "queue without pipeline": true,
		"unknown queue field": true, "queue out of range": true, "queue durations": true,
		"ingest without pipeline": true, "fields on ingest": true, "bad out of range": true,
		"endpoint fields": true, "broker fields": true, "rebalance for": true, "kafka without pipeline": true, "fields on kafka": true, "kafka values": true,
		"actions with clients": true, "actions on kv": true, "actions not a list": true, "actions empty": true,
		"action not a mapping": true, "misspelt action field": true, "action without at": true, "join and expel": true,
		"neither join nor expel": true, "join names no instance": true, "misspelt via": true, "domain on expel, force on join": true,
		"bad domains": true, "bad force and timeout": true, "too many instances": true, "misspelt governor field": true,
		"governor not a mapping": true, "bad cluster domains": true, "cluster domains not a mapping": true,
	}
	seen := 0
	for _, tc := range malformed {
		if !rejected[tc.name] {
			continue
		}
		seen++
		t.Run(tc.name, func(t *testing.T) {
			if err := sch.Validate(yamlToJSON(t, []byte(tc.file))); err == nil {
				t.Errorf("the schema accepts it, Parse says %s", tc.want)
			}
		})
	}
	if seen != len(rejected) {
		t.Errorf("%d of the %d cases named are in the malformed table", seen, len(rejected))
	}
}

// TestSchemaVocabulary checks that the schema names the fields, kinds,
// models and checks the parser knows, so that neither grows alone.
func TestSchemaVocabulary(t *testing.T) {
	var doc struct {
		Properties map[string]json.RawMessage
		Defs       map[string]json.RawMessage `json:"$defs"`
	}
	if err := json.Unmarshal(Schema, &doc); err != nil {
		t.Fatal(err)
	}
	type object struct {
		Properties map[string]json.RawMessage
		Items      struct{ Enum []string }
		Enum       []string
	}
	get := func(raw json.RawMessage, path ...string) object {
		t.Helper()
		var o object
		for i := 0; ; i++ {
			o = object{}
			if err := json.Unmarshal(raw, &o); err != nil {
				t.Fatalf("%v: %v", path, err)
			}
			if i == len(path) {
				return o
			}
			if raw = o.Properties[path[i]]; raw == nil {
				t.Fatalf("the schema has no %v", path[:i+1])
			}
		}
	}
	keys := func(o object) []string { return slices.Sorted(maps.Keys(o.Properties)) }
	same := func(what string, got, want []string) {
		t.Helper()
		if !slices.Equal(got, want) {
			t.Errorf("%s: the schema has %v, the parser %v", what, got, want)
		}
	}
	same("top-level fields", slices.Sorted(maps.Keys(doc.Properties)), slices.Sorted(slices.Values(topFields)))
	same("cluster fields", keys(get(doc.Properties["cluster"])), slices.Sorted(slices.Values(clusterFields)))
	same("workload fields", keys(get(doc.Defs["workload"])), slices.Sorted(slices.Values(workloadFields)))
	same("mix fields", keys(get(doc.Defs["workload"], "mix")), slices.Sorted(slices.Values(mixFields)))
	same("workload kinds", get(doc.Defs["workload"], "kind").Enum, workloadKinds)
	same("queue fields", keys(get(doc.Properties["cluster"], "queue")), slices.Sorted(slices.Values(queueFields)))
	same("models", get(doc.Defs["model"]).Enum, Models)
	same("pipelines", get(doc.Defs["pipeline"]).Enum, Pipelines)
	same("checks", get(doc.Properties["checks"]).Items.Enum, Checks)
}
