package scenario

import (
	"sync"

	"github.com/shoaldb/shoal/core/connector"
	"github.com/shoaldb/shoal/core/handler"
	"github.com/shoaldb/shoal/scenarios/examples"
)

// Pipelines lists the built-in inbound pipelines a scenario may name as
// cluster.pipeline.
var Pipelines = []string{"example", "example-outbound", "example-kafka", "example-dc1", "example-dc2", "example-dc2-receive"}

// PipelineSource returns the YAML source of the built-in pipeline name,
// or nil when there is no such pipeline.
func PipelineSource(name string) []byte {
	switch name {
	case "example":
		return examples.Pipeline
	case "example-outbound":
		return examples.PipelineOutbound
	case "example-kafka":
		return examples.PipelineKafka
	case "example-dc1":
		return examples.PipelineDC1
	case "example-dc2":
		return examples.PipelineDC2
	case "example-dc2-receive":
		return examples.PipelineDC2Receive
	}
	return nil
}

// PipelineDestinations lists the outbound destinations the built-in
// pipeline name declares in its connectors section, sorted: the
// destinations a run simulates an endpoint for, which an endpoint fault
// may name. It is nil for a pipeline that declares none, or no such
// pipeline.
func PipelineDestinations(name string) []string {
	return pipelineConnectors()[name].destinations
}

// PipelineBrokers lists the kafka inbound connectors the built-in
// pipeline name declares in its connectors section, sorted: the
// connectors a run simulates a broker for, which a broker fault and a
// kafka workload may name. It is nil for a pipeline that declares none,
// or no such pipeline.
func PipelineBrokers(name string) []string {
	return pipelineConnectors()[name].brokers
}

// PipelineReplications lists the destinations of type shoal the
// built-in pipeline name declares, sorted by destination: the clusters
// it replicates to.
func PipelineReplications(name string) []Replication {
	return pipelineConnectors()[name].replications
}

// Replication is a destination of type shoal, and the cluster it
// replicates to.
type Replication struct{ Destination, Cluster string }

// connectors is what a built-in pipeline's connectors section declares
// that a scenario may name.
type connectors struct {
	destinations, brokers []string
	replications          []Replication
}

// pipelineConnectors parses every built-in pipeline once.
var pipelineConnectors = sync.OnceValue(func() map[string]connectors {
	out := map[string]connectors{}
	for _, name := range Pipelines {
		p, err := handler.ParseWith(name+".yaml", PipelineSource(name), handler.Options{AllowUnknown: true})
		if err != nil {
			panic("scenario: built-in pipeline " + name + ": " + err.Error())
		}
		if p.Connectors == nil {
			continue
		}
		var c connectors // sorted, as connector.Config keeps both lists
		for _, o := range p.Connectors.Outbound {
			c.destinations = append(c.destinations, o.Name)
			if r, ok := o.Spec.(*connector.Replication); ok {
				c.replications = append(c.replications, Replication{Destination: o.Name, Cluster: r.Cluster})
			}
		}
		for _, in := range p.Connectors.Inbound {
			if _, ok := in.Spec.(*connector.KafkaInbound); ok {
				c.brokers = append(c.brokers, in.Name)
			}
		}
		out[name] = c
	}
	return out
})
