package runner

import (
	"fmt"
	"time"

	"github.com/shoaldb/shoal/core/connector"
	"github.com/shoaldb/shoal/core/model"
	"github.com/shoaldb/shoal/scenarios/scenario"
	"github.com/shoaldb/shoal/simnet"
	"github.com/shoaldb/shoal/simnet/endpoint"
	"github.com/shoaldb/shoal/simnet/harness"
)

// KafkaDrainLimit bounds how long after the workloads a run waits for
// every simulated broker's partitions to be committed to their ends: past
// it the final reads begin anyway, and the delivery check says which
// partition fell behind.
const KafkaDrainLimit = time.Minute

// Brokers names the kafka inbound connectors a scenario's pipeline
// declares: the run simulates a broker for each.
func Brokers(s *scenario.Scenario) []string {
	return scenario.PipelineBrokers(s.Cluster.Pipeline)
}

// startKafka starts a kafka workload's producers: each appends a record
// to the broker of the workload's connector every interval, a crm
// message of the kind an ingest client sends (Ingest makes it), keyed by
// its Customer's route so that one customer's records share a
// partition. The record is acknowledged once the broker has it, so every
// record produced must take effect; the generators hold what was
// produced, for the final reads.
func startKafka(w *simnet.World, c *harness.Cluster, m *model.Model, i int, wl scenario.Workload, until time.Duration) ([]*Ingest, error) {
	if m == nil {
		return nil, fmt.Errorf("runner: workload %d produces customers, and the cluster has no model", i+1)
	}
	interval := ClientInterval(wl)
	var gens []*Ingest
	for k := range wl.Clients {
		g := &Ingest{Model: m, Prefix: fmt.Sprintf("w%dp%d", i+1, k+1), Bad: wl.Bad}
		gens = append(gens, g)
		var produce func()
		produce = func() {
			if w.Now() >= until {
				return
			}
			op, _ := g.Next(w.Rand())
			rec := endpoint.KafkaRecord{Key: []byte(op.Key), Value: op.Message.Payload, Expect: op.Label}
			for _, h := range op.Message.Headers {
				rec.Headers = append(rec.Headers, connector.Header{Name: h.Name, Value: h.Value})
			}
			if err := c.Produce(wl.Connector, rec); err != nil {
				panic(fmt.Sprintf("runner: workload %d: %v", i+1, err)) // Run checked the connector has a broker
			}
			w.After(interval, produce)
		}
		// Spread the producers' starts over one interval.
		w.At(interval*time.Duration(k)/time.Duration(wl.Clients), produce)
	}
	return gens, nil
}

// drainKafka runs the world until every simulated broker's partitions are
// committed to their ends, or until KafkaDrainLimit has passed; then, if
// it waited, for Settle more, so that the last messages enqueued settle.
func drainKafka(w *simnet.World, c *harness.Cluster, names []string, progress func()) error {
	return drainWhile(w, func() bool { return kafkaBehind(c, names) }, KafkaDrainLimit, progress)
}

// kafkaBehind reports whether some broker has a partition not committed
// to its end.
func kafkaBehind(c *harness.Cluster, names []string) bool {
	for _, name := range names {
		k := c.Broker(name)
		if k == nil {
			continue // no run kills a broker; one the world does not run has nothing to wait for
		}
		for p := range k.Partitions() {
			if k.Committed(p) < k.End(p) {
				return true
			}
		}
	}
	return false
}
