package live

import (
	"maps"
	"slices"

	"github.com/shoaldb/shoal/core/cluster"
)

// configView is what every API request reads of group 0's configuration
// (the replicasets a listing asks, the model a request is judged by),
// kept where requests read it without a trip to the loop, which is busy
// with the requests themselves: building the cluster's status there took
// 35 ms a listing under load. The loop publishes a new view with the
// access (refreshAccess), after any batch in which group 0 applied
// something, so a request sees what a trip to the loop would have seen
// at the end of the last batch.
type configView struct {
	replicasets []string // the replicasets' names, in the configuration's order
	models      ModelStatus
	// For the metrics: each instance's state and target, each
	// replicaset's member count, group 0's voter count.
	instances []cluster.Instance
	members   []int // by replicasets' index
	voters    int
	// For the metrics: the buckets' spread and moves.
	rebalance RebalanceStatus
}

// viewOf is the view of the configuration conf (on the loop).
func viewOf(conf *cluster.Config) *configView {
	v := &configView{models: modelStatus(conf), instances: slices.Clone(conf.Instances), voters: len(conf.Voters),
		rebalance: rebalanceStatus("", conf)}
	for _, rs := range conf.Replicasets {
		v.replicasets = append(v.replicasets, rs.Name)
		v.members = append(v.members, len(rs.Members))
	}
	return v
}

// modelStatus is the model state of conf.
func modelStatus(conf *cluster.Config) ModelStatus {
	var st ModelStatus
	for _, m := range conf.Models {
		st.Revisions = append(st.Revisions, ModelRevision{Revision: m.Revision, Digest: m.Digest, Source: m.Source})
	}
	if c := conf.ModelChange; c != nil {
		p := &ModelRevision{Revision: c.Revision, Digest: c.Digest, Source: c.Source}
		p.Votes = slices.Sorted(maps.Keys(c.Votes))
		st.Pending = p
	}
	if a := conf.ModelAbort; a != nil {
		st.LastAbort = &ModelAbort{Revision: a.Revision, Reason: a.Reason}
	}
	return st
}

// configViewer is a Backend that publishes its configuration's view
// (Node does); the API asks the loop of one that does not.
type configViewer interface {
	// ReplicasetNames are the cluster's replicasets; false before the
	// instance has caught up with group 0.
	ReplicasetNames() ([]string, bool)
	// ModelsNow is Models without the trip to the loop; false before
	// the instance has caught up with group 0. Every caller shares what
	// it returns: it is read only.
	ModelsNow() (ModelStatus, bool)
}

var _ configViewer = (*Node)(nil)

// ReplicasetNames implements configViewer.
func (n *Node) ReplicasetNames() ([]string, bool) {
	v := n.view.Load()
	if v == nil {
		return nil, false
	}
	return slices.Clone(v.replicasets), true
}

// ModelsNow implements configViewer.
func (n *Node) ModelsNow() (ModelStatus, bool) {
	v := n.view.Load()
	if v == nil {
		return ModelStatus{}, false
	}
	return v.models, true
}
