package live

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoaldb/shoal/core/connector"
	"github.com/shoaldb/shoal/core/kv"
)

// replicationItem is the item a destination of type shoal pushes for
// customer id's change, made in dc1.
func replicationItem(t *testing.T, r *connector.Replication, seq uint64, id string) connector.Item {
	t.Helper()
	c := kv.Change{Type: "Customer", PK: id, Route: "route-" + id, Version: 2, Value: []byte(`{"id":"` + id + `"}`), Time: 5, Origin: "dc1"}
	req, err := r.Render(&connector.Message{Seq: seq, IdempotencyKey: "rs1-" + id, Value: c.Encode()})
	if err != nil {
		t.Fatal(err)
	}
	return connector.Item{Seq: seq, IdempotencyKey: "rs1-" + id, OrderKey: c.Route, Request: req}
}

// TestReplicationSender: each change is POSTed to the receiving cluster's
// ingest path of its connector with its id, route and token; a change an
// instance could not take (503, no answer) goes to the next URL, and the
// sender starts from the one that last took a change; one every instance
// would refuse (400) does not.
func TestReplicationSender(t *testing.T) {
	type seen struct{ url, id, key, origin, auth, body string }
	var mu sync.Mutex
	var got []seen
	record := func(r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, seen{r.URL.Path, r.Header.Get(HeaderMessageID), r.Header.Get(HeaderMessageKey),
			r.Header.Get(connector.OriginHeader), r.Header.Get("Authorization"), string(b)})
		mu.Unlock()
	}
	busy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		record(r)
		http.Error(w, `{"error":"no leader"}`, http.StatusServiceUnavailable)
	}))
	defer busy.Close()
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		record(r)
		if strings.Contains(r.Header.Get(HeaderMessageID), "bad") {
			http.Error(w, `{"error":"request body: not JSON"}`, http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer ok.Close()

	t.Setenv("SHOAL_TEST_DC2_TOKEN", "shoal_ingest_abc")
	spec := &connector.Replication{Cluster: "dc2", Connector: "from-dc1", URLs: []string{busy.URL, ok.URL + "/"}, TokenEnv: "SHOAL_TEST_DC2_TOKEN"}
	s, err := openReplication(spec)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res := s.Send(ctx, []connector.Item{replicationItem(t, spec, 1, "c1"), replicationItem(t, spec, 2, "bad")})
	if res[0].Seq != 1 || res[0].Err != "" {
		t.Errorf("c1: %+v, want taken (by the second URL)", res[0])
	}
	if res[1].Seq != 2 || !strings.HasPrefix(res[1].Err, "400") {
		t.Errorf("bad: %+v, want the 400", res[1])
	}
	// The first URL refused both; the second took c1 and refused bad,
	// which the first is not asked again.
	mu.Lock()
	n := len(got)
	for _, g := range got {
		if g.url != "/v1/ingest/from-dc1" || g.auth != "Bearer shoal_ingest_abc" || g.origin != "dc1" || !strings.HasPrefix(g.id, "dc1/rs1-") ||
			g.key != "" || !strings.Contains(g.body, `"origin":"dc1"`) {
			t.Errorf("a request %+v", g)
		}
	}
	got = nil
	mu.Unlock()
	if n != 4 {
		t.Errorf("%d requests, want 4 (two to each URL)", n)
	}
	// The next push starts from the URL that took c1.
	if res := s.Send(ctx, []connector.Item{replicationItem(t, spec, 3, "c3")}); res[0].Err != "" {
		t.Errorf("c3: %+v", res[0])
	}
	mu.Lock()
	if len(got) != 1 || got[0].id != "dc1/rs1-c3" {
		t.Errorf("c3 went %+v, want once, to the URL that took c1", got)
	}
	mu.Unlock()

	// A push whose time is up when it starts sends nothing, and says so.
	done, stop := context.WithCancel(context.Background())
	stop()
	if res := s.Send(done, []connector.Item{replicationItem(t, spec, 4, "c4")}); !strings.HasPrefix(res[0].Err, "not sent") {
		t.Errorf("a push sent after its context ended: %+v", res[0])
	}

	for _, c := range []struct {
		spec *connector.Replication
		want string
	}{
		{&connector.Replication{Cluster: "dc2"}, "needs urls"},
		{&connector.Replication{Cluster: "dc2", URLs: []string{ok.URL}, TokenEnv: "SHOAL_TEST_UNSET"}, "SHOAL_TEST_UNSET, which is not set"},
	} {
		if _, err := openReplication(c.spec); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("openReplication(%+v): %v, want an error about %q", c.spec, err, c.want)
		}
	}
}
