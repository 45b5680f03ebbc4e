package scenario

import (
	"bytes"
	"encoding/json"
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
