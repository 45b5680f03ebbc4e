package kvclient

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoaldb/shoal/checker"
	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/core/kv"
	"github.com/shoaldb/shoal/core/model"
	"github.com/shoaldb/shoal/scenarios/examples"
	"github.com/shoaldb/shoal/scenarios/runner"
	"github.com/shoaldb/shoal/scenarios/scenario"
	"github.com/shoaldb/shoal/simnet/client"
)

// The requests an object operation becomes through GraphQL: a lookup
// selecting every field (records too), a put of the object upgraded to
// the latest version, a delete by key literals.
func TestGraphQLRequests(t *testing.T) {
	m, err := model.Parse("model.yaml", examples.Model)
	if err != nil {
		t.Fatal(err)
	}
	v1 := `{"created":"2024-01-02T03:04:05Z","email":null,"id":"c1","name":"Ada Lovelace"}`
	for _, tc := range []struct {
		op   client.Op
		want string
	}{
		{client.Op{F: kv.OpGetObject, Label: "Customer/c1", Object: &kv.ObjectRequest{Type: "Customer"}},
			`{"query":"{ Customer(id: \"c1\") { id first_name last_name email created tier newsletter _version _revision } }","variables":{}}`},
		{client.Op{F: kv.OpDeleteObject, Label: "Shipment/c1,o1,7", Object: &kv.ObjectRequest{Type: "Shipment"}},
			`{"query":"mutation { deleteShipment(customer_id: \"c1\", order_id: \"o1\", seq: 7) { order_id seq customer_id tracking carrier shipped weight_kg delivered _version _revision } }","variables":{}}`},
		{client.Op{F: kv.OpPutObject, Label: "Customer/c1", Object: &kv.ObjectRequest{Type: "Customer", Version: 1, Value: []byte(v1)}},
			`{"query":"mutation ($o: CustomerInput!) { putCustomer(object: $o) { id first_name last_name email created tier newsletter _version _revision } }",` +
				`"variables":{"o":{"created":"2024-01-02T03:04:05Z","email":null,"first_name":"Ada","id":"c1","last_name":"Lovelace","newsletter":false,"tier":"basic"}}}`},
		{client.Op{F: kv.OpGetObject, Label: "Order/c1,o1", Object: &kv.ObjectRequest{Type: "Order"}},
			`{"query":"{ Order(customer_id: \"c1\", id: \"o1\") { id customer_id placed status lines { sku quantity unit_price } total note shipping_address { street city zip country } _version _revision } }","variables":{}}`},
	} {
		req, err := graphqlRequest(context.Background(), "http://x", m, tc.op)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(req.Body)
		if req.URL.Path != "/v1/graphql" || req.Method != http.MethodPost || string(body) != tc.want {
			t.Errorf("%s %s %s\nwant POST /v1/graphql %s", req.Method, req.URL.Path, body, tc.want)
		}
	}
}

// GraphQL's answers judged: a write's error is unknown unless its code
// says nothing was done; a read's error is a refusal.
func TestJudgeGraphQL(t *testing.T) {
	get := client.Op{F: kv.OpGetObject, Label: "Customer/c1", Object: &kv.ObjectRequest{Type: "Customer"}}
	put := client.Op{F: kv.OpPutObject, Label: "Customer/c1", Object: &kv.ObjectRequest{Type: "Customer", Version: 2}}
	for _, tc := range []struct {
		name   string
		op     client.Op
		status int
		body   string
		want   outcome
		bad    bool
	}{
		{"read", get, 200, `{"data":{"Customer":{"id":"c1","_version":2,"_revision":7}}}`, done, false},
		{"read none", get, 200, `{"data":{"Customer":null}}`, done, false},
		{"read error", get, 200, `{"data":{"Customer":null},"errors":[{"message":"x"}]}`, refused, false},
		{"write", put, 200, `{"data":{"putCustomer":{"id":"c1","_version":2,"_revision":8}}}`, done, false},
		{"write unavailable", put, 200, `{"data":{"putCustomer":null},"errors":[{"message":"x","extensions":{"code":"unavailable"}}]}`, refused, false},
		{"write conflict", put, 200, `{"data":{"putCustomer":null},"errors":[{"message":"x","extensions":{"code":"conflict"}}]}`, refused, false},
		{"write unknown", put, 200, `{"data":{"putCustomer":null},"errors":[{"message":"x","extensions":{"code":"outcome_unknown"}}]}`, unknown, false},
		{"write no code", put, 200, `{"data":{"putCustomer":null},"errors":[{"message":"x"}]}`, unknown, false},
		{"write null", put, 200, `{"data":{"putCustomer":null}}`, unknown, true},
		{"no revision", get, 200, `{"data":{"Customer":{"id":"c1"}}}`, unknown, true},
		{"not json", get, 200, `<html>`, unknown, true},
		{"503", put, 503, `{"error":"unavailable"}`, refused, false},
	} {
		a := judge("s1", tc.op, tc.status, []byte(tc.body), nil, true)
		if a.outcome != tc.want || a.bad != tc.bad {
			t.Errorf("%s: outcome %d bad %v (%s), want %d bad %v", tc.name, a.outcome, a.bad, a.why, tc.want, tc.bad)
		}
	}
}

// Clients that read, write and delete objects through GraphQL (and read
// stale through REST) on a real instance with the example model leave a
// history the objects' linearizability check accepts, with final reads
// through REST; and the operations did go through GraphQL.
func TestGraphQLAgainstARealNode(t *testing.T) {
	var graphqlRequests atomic.Int64
	ctx, srv := realNode(t, 90*time.Second, func(api http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/v1/graphql" {
				graphqlRequests.Add(1)
			}
			api.ServeHTTP(w, r)
		})
	})
	s, err := scenario.Parse("graphql.yaml", []byte(`name: graphql
cluster: {instances: 1, model: example}
workload: {kind: objects, clients: 4, keys: 3, rate: 200, mix: {read: 0.35, write: 0.45, delete: 0.1, stale_read: 0.1}}
duration: 2s
`))
	if err != nil {
		t.Fatal(err)
	}
	m, err := runner.InitialModel(s)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPut, srv.URL+"/v1/model", bytes.NewReader(m.Source()))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("PUT /v1/model: %d %s", resp.StatusCode, b)
	}

	servers := map[env.NodeID]string{"n1": srv.URL}
	tr := newTrace()
	const clients = 4
	until := time.Now().Add(2 * time.Second)
	stats := make([]Stats, clients)
	var wg sync.WaitGroup
	for i := range clients {
		name := env.NodeID(fmt.Sprintf("c%d", i+1))
		wg.Go(func() {
			stats[i] = Run(ctx, Config{Name: name, Servers: servers, Timeout: 5 * time.Second, Retries: 3, Interval: 5 * time.Millisecond,
				Until: until, Seed: uint64(i + 1), Process: i + 1, ProcessStride: clients, Recorder: tr, GraphQL: m},
				runner.ObjectMix(m, s.Workloads[0]))
		})
	}
	wg.Wait()
	final := Run(ctx, Config{Name: "final-n1", Servers: servers, Timeout: 5 * time.Second, Retries: 3, Process: 1 << 30, Recorder: tr},
		&client.List{Ops: runner.FinalObjectReads(m, 3)})
	for i, st := range append(stats, final) {
		if st.Bad > 0 {
			t.Errorf("client %d: %d answers outside the API's contract", i, st.Bad)
		}
	}
	// As a live run's digests do: the model the instance ends with.
	tr.Note("n1", "model.state", env.Str("digest", m.Digest()))
	recs := tr.records()
	ok := map[string]int{}
	for _, r := range recs {
		if r.Kind == "client.ok" {
			f, _ := r.Str("f")
			ok[f]++
		}
	}
	for _, f := range []string{"read-object", "write-object", "delete-object"} {
		if ok[f] == 0 {
			t.Errorf("no %s completed ok: %v", f, ok)
		}
	}
	if n := graphqlRequests.Load(); n < int64(ok["write"]) {
		t.Errorf("%d GraphQL requests for %d writes", n, ok["write"])
	}
	results, _ := runner.Check(s, recs)
	found := false
	for _, r := range results.Checkers {
		if r.Checker == scenario.CheckLinearizable {
			found = true
			if r.Verdict != checker.Valid {
				t.Errorf("linearizable: %s: %s", r.Verdict, r.Explanation)
			}
			t.Logf("linearizable: %s", r.Explanation)
		}
	}
	if !found {
		t.Errorf("no linearizable check among %+v", results.Checkers)
	}
	t.Logf("%d events; ok by operation %v; %d GraphQL requests; stats %+v, final %+v", len(recs), ok, graphqlRequests.Load(), stats, final)
}
