package runner

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/shoaldb/shoal/core/kv"
	"github.com/shoaldb/shoal/core/model"
	"github.com/shoaldb/shoal/scenarios/scenario"
	"github.com/shoaldb/shoal/simnet/client"
	"github.com/shoaldb/shoal/simnet/harness"
)

// InitialPipeline is the pipeline source a scenario's cluster bootstraps
// with, or nil.
func InitialPipeline(s *scenario.Scenario) []byte {
	if s.Cluster.Pipeline == "" {
		return nil
	}
	return scenario.PipelineSource(s.Cluster.Pipeline)
}

// Ingest is the message generator of one client of an ingest workload: it
// sends messages of the example pipeline's crm connector, each with an id
// of its own (PREFIX-N), each to become the Customer of that id. A share
// Bad of them is built to fail, alternately in routing (no X-Kind header:
// no rule matches) and in validation (a creation time that is no
// timestamp); their Label is empty. Every message it made is in Sent.
type Ingest struct {
	Model  *model.Model
	Prefix string
	Bad    float64
	Sent   []client.Op
	n      int
}

// Next implements client.Workload.
func (w *Ingest) Next(r *rand.Rand) (client.Op, bool) {
	w.n++
	id := fmt.Sprintf("%s-%d", w.Prefix, w.n)
	bad := r.Float64() < w.Bad
	op := CustomerMessage(w.Model, id, bad, w.n%2 == 0)
	w.Sent = append(w.Sent, op)
	return op, true
}

// CustomerMessage is the crm message that becomes Customer id, or, bad,
// one that fails: in routing when unrouted, else in validation. Its key
// is the Customer's route, so the message reaches the replicaset that
// keeps the customer.
func CustomerMessage(m *model.Model, id string, bad, unrouted bool) client.Op {
	created, label := "2026-01-02T03:04:05Z", "Customer/"+id
	headers := []kv.Header{{Name: "X-Kind", Value: "customer"}}
	if bad {
		label = ""
		if unrouted {
			headers = nil
		} else {
			created = "yesterday"
		}
	}
	payload := fmt.Sprintf(`{"customer":{"id":%q,"name":"Ada %s","email":"%s@example.com"},"created_at":%q}`, id, id, id, created)
	route, _ := customerKey(m, id)
	return client.Op{F: kv.OpEnqueue, Key: route, Label: label,
		Message: &kv.Message{ID: id, Connector: "crm", Headers: headers, Payload: []byte(payload)}}
}

// customerKey is the route and primary key of Customer id.
func customerKey(m *model.Model, id string) (route, pk string) {
	t, ok := m.Type("Customer")
	if !ok {
		panic("runner: the ingest workload needs a model with a Customer type")
	}
	pk, err := t.SetKey(model.Object{}, id)
	if err != nil {
		panic(fmt.Sprintf("runner: the key of Customer %q: %v", id, err))
	}
	return routeOf(t, pk), pk
}

// FinalIngestReads are the reads that judge an ingest run: each message's
// Customer with its history, and every replicaset's queues with its
// repair queue listed.
func FinalIngestReads(m *model.Model, sent []client.Op, replicasets []string) []client.Op {
	var ops []client.Op
	for _, o := range sent {
		if o.Label == "" {
			continue
		}
		route, pk := customerKey(m, o.Message.ID)
		ops = append(ops, client.Op{F: kv.OpGetObject, Key: route, Label: o.Label,
			Object: &kv.ObjectRequest{Type: "Customer", PK: pk, History: true}})
	}
	for _, rs := range replicasets {
		ops = append(ops, client.Op{F: kv.OpReadQueue, Queue: &kv.QueueRequest{Replicaset: rs, List: "repair", Limit: kv.MaxQueuePage}})
	}
	return ops
}

// startIngest starts an ingest workload's clients; their generators hold
// what they sent, for the final reads.
func startIngest(c *harness.Cluster, m *model.Model, i int, wl scenario.Workload, until time.Duration) ([]*Ingest, error) {
	if m == nil {
		return nil, fmt.Errorf("runner: workload %d sends messages, and the cluster has no model", i+1)
	}
	var gens []*Ingest
	_, err := c.AddClients(wl.Clients, client.Config{Target: wl.Target, Timeout: wl.Timeout, Retries: retries(wl.Retries),
		Interval: ClientInterval(wl), Until: until}, func(k int) client.Workload {
		g := &Ingest{Model: m, Prefix: fmt.Sprintf("w%dc%d", i+1, k+1), Bad: wl.Bad}
		gens = append(gens, g)
		return g
	})
	return gens, err
}
