package connector

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"

	"github.com/shoaldb/shoal/core/kv"
	"github.com/shoaldb/shoal/core/yamlcheck"
)

// Replication between clusters: a destination of type shoal carries the
// changes made in this cluster to another shoal cluster, whose inbound
// connector of type shoal applies them (core/README.md, "Replication
// between clusters").

// ReplicationType names both replication types, the destination and the
// inbound connector.
const ReplicationType = "shoal"

// DefaultReplicationConnector is the inbound connector a replication
// destination delivers to when it names none.
const DefaultReplicationConnector = "replication"

// OriginHeader carries the name of the cluster a replicated change was
// made in.
const OriginHeader = "X-Shoal-Origin"

func init() {
	registerBuiltinInbound(ReplicationType, parseReplicationInbound)
	registerBuiltinOutbound(ReplicationType, parseReplication)
}

// Replication is a destination of type shoal: another shoal cluster.
type Replication struct {
	// Cluster is the receiving cluster's name (cluster, required). A
	// change is never sent to the cluster it was made in, and only the
	// changes made in this cluster are sent at all, so two clusters
	// replicating to each other never echo a change back.
	Cluster string
	// Connector is the receiving cluster's inbound connector of type
	// shoal (connector, default "replication").
	Connector string
	// Types are the object types replicated (types); nil: all.
	Types []string
	// URLs are the receiving cluster's HTTP API base URLs (urls), tried
	// in turn by a production sender; the simulator routes by Cluster.
	URLs []string
	// TokenEnv names the environment variable that holds, on every
	// sending instance, the bearer token the receiving connector asks for
	// (token_env; its token_sha256 lists the token's digest). The
	// pipeline is replicated and readable through the API, so it names
	// the variable, never the token.
	TokenEnv string
}

// Type returns "shoal".
func (*Replication) Type() string { return ReplicationType }

// Replicates reports whether changes of objects of type typ go to r.
func (r *Replication) Replicates(typ string) bool {
	return r.Types == nil || slices.Contains(r.Types, typ)
}

// Render gives the request for m, whose value is a kv.Change: the change
// as it is (Body), routed by its route (Key), with Content-Type,
// Idempotency-Key (the origin cluster's name, a slash and
// m.IdempotencyKey, so that changes of two clusters never share one) and
// X-Shoal-Origin.
func (r *Replication) Render(m *Message) (Request, error) {
	c, err := kv.ParseChange(m.Value)
	if err != nil {
		return Request{}, err
	}
	hs := []Header{
		{Name: "Content-Type", Value: "application/json"},
		{Name: idempotencyHeader, Value: ReplicationID(c.Origin, m.IdempotencyKey)},
		{Name: OriginHeader, Value: c.Origin},
	}
	sortHeaders(hs)
	return Request{Key: []byte(c.Route), Headers: hs, Body: slices.Clone(m.Value)}, nil
}

var envName = regexp.MustCompile(`^[A-Z_][A-Z0-9_]{0,127}$`)

// ReplicationID is the id a replicated change is enqueued under in the
// receiving cluster: its origin cluster's name, a slash and its
// idempotency key there.
func ReplicationID(origin, key string) string { return origin + "/" + key }

func parseReplication(p *Params) OutboundSpec {
	r := &Replication{
		Cluster:   p.String("cluster", true),
		Connector: p.String("connector", false),
		Types:     p.Strings("types", false),
		URLs:      p.Strings("urls", false),
		TokenEnv:  p.String("token_env", false),
	}
	if r.TokenEnv != "" && !envName.MatchString(r.TokenEnv) {
		p.Errorf("token_env", "%s is not an environment variable's name: upper-case letters, digits and _, not starting with a digit, such as SHOAL_DC2_TOKEN", yamlcheck.Quote(r.TokenEnv))
	}
	if r.Cluster != "" {
		if err := kv.CheckClusterName(r.Cluster); err != nil {
			p.Errorf("cluster", "%v", err)
		}
	}
	if r.Connector == "" {
		r.Connector = DefaultReplicationConnector
	}
	for _, u := range r.URLs {
		if v, err := url.Parse(u); err != nil || (v.Scheme != "http" && v.Scheme != "https") || v.Host == "" || v.Opaque != "" {
			p.Errorf("urls", "must be absolute http or https URLs of the receiving cluster's API, such as http://dc2-a:8080, got %s", yamlcheck.Quote(u))
			break
		}
	}
	return r
}

// ReplicationInbound is an inbound connector of type shoal: it takes the
// changes other clusters replicate to this one, through the same HTTP
// path as an http connector (its limits and tokens), and applies each
// only if it is later than what the object holds.
type ReplicationInbound struct {
	HTTPInbound
	// From are the clusters whose changes it takes (from); nil: any.
	From []string
}

// Type returns "shoal".
func (*ReplicationInbound) Type() string { return ReplicationType }

// Accepts reports whether changes made in cluster origin are taken.
func (r *ReplicationInbound) Accepts(origin string) bool {
	return r.From == nil || slices.Contains(r.From, origin)
}

func parseReplicationInbound(p *Params) InboundSpec {
	r := &ReplicationInbound{HTTPInbound: *parseHTTPInbound(p).(*HTTPInbound), From: p.Strings("from", false)}
	for _, name := range r.From {
		if err := kv.CheckClusterName(name); err != nil {
			p.Errorf("from", "%v", err)
			break
		}
	}
	return r
}

// String names the destination in messages.
func (r *Replication) String() string { return fmt.Sprintf("shoal cluster %s", r.Cluster) }
