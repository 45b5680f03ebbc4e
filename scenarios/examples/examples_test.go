package examples

import (
	"slices"
	"testing"
	"time"

	"github.com/shoaldb/shoal/core/connector"
	"github.com/shoaldb/shoal/core/handler"
	"github.com/shoaldb/shoal/core/model"
)

func TestModelsParseAndSucceed(t *testing.T) {
	m, err := model.Parse("model.yaml", Model)
	if err != nil {
		t.Fatal(err)
	}
	next, err := model.Parse("model-next.yaml", ModelNext)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.CheckSuccessor(next); err != nil {
		t.Fatal(err)
	}
}

// Both pipelines parse; pipeline-outbound.yaml declares the destinations
// pipeline.yaml sends to, and crm-sync, which its customers chain sends
// every customer to before storing it.
func TestPipelinesParse(t *testing.T) {
	if _, err := handler.Parse("pipeline.yaml", Pipeline); err != nil {
		t.Fatal(err)
	}
	p, err := handler.Parse("pipeline-outbound.yaml", PipelineOutbound)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, o := range p.Connectors.Outbound {
		names = append(names, o.Name)
	}
	if want := []string{"billing", "crm-sync", "test-sink", "warehouse"}; !slices.Equal(names, want) {
		t.Fatalf("destinations %v, want %v", names, want)
	}
	if d := p.Connectors.Destination("crm-sync").Delivery; d.MaxAttempts != 1000 || d.BackoffMax != 2*time.Second {
		t.Fatalf("crm-sync delivers with %+v", d)
	}
	if steps := p.Chain("customers"); len(steps) == 0 || steps[0] != "outbound" {
		t.Fatalf("the customers chain is %v, want an outbound step first", steps)
	}
}

// pipeline-kafka.yaml makes crm a kafka connector, and keeps
// pipeline.yaml's routes and chains.
func TestPipelineKafkaParses(t *testing.T) {
	p, err := handler.Parse("pipeline-kafka.yaml", PipelineKafka)
	if err != nil {
		t.Fatal(err)
	}
	k, ok := p.Connectors.Connector("crm").Spec.(*connector.KafkaInbound)
	if !ok || k.Topic != "crm-customers" || k.MaxBatch != 16 {
		t.Fatalf("crm is %+v", p.Connectors.Connector("crm"))
	}
	plain, err := handler.Parse("pipeline.yaml", Pipeline)
	if err != nil {
		t.Fatal(err)
	}
	for _, chain := range []string{"discard", "customers", "orders", "fulfilment", "shipments", "products"} {
		if got, want := p.Chain(chain), plain.Chain(chain); !slices.Equal(got, want) || len(got) == 0 {
			t.Errorf("chain %s is %v, pipeline.yaml's %v", chain, got, want)
		}
	}
}
