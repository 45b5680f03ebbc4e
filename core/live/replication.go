package live

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/shoaldb/shoal/core/connector"
)

func init() {
	RegisterSender(connector.ReplicationType, openReplication)
}

// replicationSender delivers a shoal destination's changes to the
// receiving cluster's ingest endpoint of its replication connector, POST
// /v1/ingest/{connector}, one request a change: Idempotency-Key names
// the change (its origin cluster and its idempotency key there). The
// receiving cluster routes it by the route in the change, and answers
// 202 once it is on a majority of its disks. With
// token_env, every request carries the token as a bearer token. It tries
// the cluster's URLs in turn, starting with the one that last took a
// change: a change another instance might take (no answer, 429, 5xx)
// goes to the next URL, one every instance refuses (4xx) does not.
type replicationSender struct {
	spec    *connector.Replication
	headers []connector.Header // added to every request: the token's
	hooks   []*webhookSender   // one per URL
	mu      sync.Mutex
	first   int // the URL that last took a change
}

func openReplication(spec connector.OutboundSpec) (Sender, error) {
	r, ok := spec.(*connector.Replication)
	if !ok {
		return nil, fmt.Errorf("want shoal parameters, got %T", spec)
	}
	if len(r.URLs) == 0 {
		return nil, fmt.Errorf("a shoal destination to cluster %s needs urls: the receiving cluster's HTTP API addresses", r.Cluster)
	}
	var headers []connector.Header
	if r.TokenEnv != "" {
		token := os.Getenv(r.TokenEnv)
		if token == "" {
			return nil, fmt.Errorf("a shoal destination to cluster %s takes its token from %s, which is not set on this instance", r.Cluster, r.TokenEnv)
		}
		if !ValidToken(token) {
			return nil, fmt.Errorf("a shoal destination to cluster %s: %s does not hold a bearer token (at most %d bytes of letters, digits and -._~+/=)", r.Cluster, r.TokenEnv, MaxTokenLen)
		}
		headers = []connector.Header{{Name: "Authorization", Value: "Bearer " + token}}
	}
	s := &replicationSender{spec: r, headers: headers}
	for _, u := range r.URLs {
		target := strings.TrimSuffix(u, "/") + "/v1/ingest/" + url.PathEscape(r.Connector)
		h, err := openWebhook(&connector.Webhook{URL: target, Method: "POST"})
		if err != nil {
			return nil, err
		}
		s.hooks = append(s.hooks, h.(*webhookSender))
	}
	return s, nil
}

func (s *replicationSender) Send(ctx context.Context, items []connector.Item) []connector.Result {
	out := make([]connector.Result, len(items))
	pending := make([]int, len(items)) // items not yet taken, by index
	routed := make([]connector.Item, len(items))
	for i := range items {
		out[i] = connector.Result{Seq: items[i].Seq, Err: "not sent"}
		if ctx.Err() != nil {
			out[i].Err = "not sent: " + ctx.Err().Error()
		}
		pending[i] = i
		routed[i] = items[i]
		routed[i].Request.Headers = append(slices.Clone(items[i].Request.Headers), s.headers...)
	}
	s.mu.Lock()
	first := s.first
	s.mu.Unlock()
	for try := 0; try < len(s.hooks) && len(pending) > 0 && ctx.Err() == nil; try++ {
		at := (first + try) % len(s.hooks)
		batch := make([]connector.Item, len(pending))
		for j, i := range pending {
			batch[j] = routed[i]
		}
		results := s.hooks[at].Send(ctx, batch)
		var again []int
		for j, i := range pending {
			out[i].Err = results[j].Err
			if out[i].Err == "" {
				s.mu.Lock()
				s.first = at
				s.mu.Unlock()
			} else if elsewhere(out[i].Err) {
				again = append(again, i)
			}
		}
		pending = again
	}
	return out
}

// elsewhere reports whether another instance of the receiving cluster
// might take a change this one refused with why: no answer, 429 (its
// queue is full), or a 5xx; not a 4xx, which every instance would give.
func elsewhere(why string) bool {
	if len(why) < 3 || why[0] != '4' || why[1] < '0' || why[1] > '9' || why[2] < '0' || why[2] > '9' {
		return true
	}
	return strings.HasPrefix(why, "429")
}

func (s *replicationSender) Close() error {
	for _, h := range s.hooks {
		h.Close()
	}
	return nil
}
