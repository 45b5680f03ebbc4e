package scenario

import (
	"sync"

	"github.com/shoaldb/shoal/core/handler"
	"github.com/shoaldb/shoal/scenarios/examples"
)

// Pipelines lists the built-in inbound pipelines a scenario may name as
// cluster.pipeline.
var Pipelines = []string{"example", "example-outbound"}

// PipelineSource returns the YAML source of the built-in pipeline name,
// or nil when there is no such pipeline.
func PipelineSource(name string) []byte {
	switch name {
	case "example":
		return examples.Pipeline
	case "example-outbound":
		return examples.PipelineOutbound
	}
	return nil
}

// PipelineDestinations lists the outbound destinations the built-in
// pipeline name declares in its connectors section, sorted: the
// destinations a run simulates an endpoint for, which an endpoint fault
// may name. It is nil for a pipeline that declares none, or no such
// pipeline.
func PipelineDestinations(name string) []string {
	return pipelineDestinations()[name]
}

// pipelineDestinations parses every built-in pipeline once.
var pipelineDestinations = sync.OnceValue(func() map[string][]string {
	out := map[string][]string{}
	for _, name := range Pipelines {
		p, err := handler.ParseWith(name+".yaml", PipelineSource(name), handler.Options{AllowUnknown: true})
		if err != nil {
			panic("scenario: built-in pipeline " + name + ": " + err.Error())
		}
		if p.Connectors == nil {
			continue
		}
		for _, o := range p.Connectors.Outbound {
			out[name] = append(out[name], o.Name)
		}
	}
	return out
})
