package live

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/shoaldb/shoal/core/cluster"
	"github.com/shoaldb/shoal/core/env"
)

// TopologyBackend is what the topology routes need beside Backend: an
// operator's changes to the cluster's shape.
type TopologyBackend interface {
	// Expel expels the named instance (cluster.Expel): refused
	// (ErrTopologyRefused) when the instance is unknown, already
	// expelled, online without force, or the last of a replicaset that
	// owns buckets.
	Expel(ctx context.Context, name string, force bool) error
}

// ErrTopologyRefused wraps group 0's reason for refusing a change to the
// cluster's shape: nothing changed.
var ErrTopologyRefused = errors.New("refused")

var _ TopologyBackend = (*Node)(nil)

// Expel proposes the instance's expulsion and waits for group 0 to take
// it; the governor then does the rest, step by step (its state in
// GET /v1/cluster says how far it is).
func (n *Node) Expel(ctx context.Context, name string, force bool) error {
	err := n.decide(ctx, "expel", cluster.Expel(env.NodeID(name), force), ErrTopologyRefused, "the expulsion")
	if err == nil {
		n.refreshNow()
	}
	return err
}

// expel answers POST /v1/cluster/instances/{name}/expel[?force=true].
func (a *api) expel(w http.ResponseWriter, r *http.Request) error {
	tb, ok := a.b.(TopologyBackend)
	if !ok {
		return apiErrorf(http.StatusNotImplemented, "this node changes no topology")
	}
	name := r.PathValue("name")
	force := false
	switch values := r.URL.Query()["force"]; {
	case len(values) == 0:
	case len(values) == 1 && (values[0] == "true" || values[0] == "false"):
		force = values[0] == "true"
	default:
		return apiErrorf(http.StatusBadRequest, "force: want once true or false, such as ?force=true")
	}
	ctx, cancel := a.context(r)
	defer cancel()
	switch err := tb.Expel(ctx, name, force); {
	case errors.Is(err, ErrTopologyRefused) && strings.Contains(err.Error(), "no instance named"):
		return apiErrorf(http.StatusNotFound, "%s", err)
	case errors.Is(err, ErrTopologyRefused):
		return apiErrorf(http.StatusConflict, "%s", err)
	case err != nil:
		return backendError(err)
	}
	respond(w, http.StatusOK, map[string]string{"expelling": name})
	return nil
}
