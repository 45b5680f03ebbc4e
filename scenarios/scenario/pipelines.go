package scenario

import "github.com/shoaldb/shoal/scenarios/examples"

// Pipelines lists the built-in inbound pipelines a scenario may name as
// cluster.pipeline.
var Pipelines = []string{"example"}

// PipelineSource returns the YAML source of the built-in pipeline name,
// or nil when there is no such pipeline.
func PipelineSource(name string) []byte {
	switch name {
	case "example":
		return examples.Pipeline
	}
	return nil
}
