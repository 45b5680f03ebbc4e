package scenario

import "github.com/shoaldb/shoal/scenarios/examples"

// Models lists the built-in data models a scenario may name, as
// cluster.model or as a model workload's model.
var Models = []string{"example", "example-next"}

// ModelSource returns the YAML source of the built-in model name, or nil
// when there is no such model.
func ModelSource(name string) []byte {
	switch name {
	case "example":
		return examples.Model
	case "example-next":
		return examples.ModelNext
	}
	return nil
}
