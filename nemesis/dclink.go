package nemesis

import (
	"fmt"
	"slices"
	"strings"

	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/simnet"
)

// Several clusters in one world (Config.DCs): a fault on instances,
// endpoints or brokers names its cluster (Fault.Cluster), and the links
// between the clusters, dc links, have their own base behaviour
// (Config.DCLink) and their own fault, dclink.

// dcIndex maps every node of the DCs to its DC's index.
func dcIndex(dcs []DC) map[env.NodeID]int {
	out := map[env.NodeID]int{}
	for i, dc := range dcs {
		for _, id := range dc.Nodes {
			out[id] = i
		}
	}
	return out
}

// dcLinks lists the directed dc links between the DCs named in names
// (every pair when nil), in the order of the DCs and their nodes.
func (n *Nemesis) dcLinks(names []string) []link {
	var out []link
	in := func(i int) bool { return names == nil || slices.Contains(names, n.cfg.DCs[i].Name) }
	for i, a := range n.cfg.DCs {
		for j, b := range n.cfg.DCs {
			if i == j || !in(i) || !in(j) {
				continue
			}
			for _, x := range a.Nodes {
				for _, y := range b.Nodes {
					out = append(out, link{x, y})
				}
			}
		}
	}
	return out
}

// base is how a link behaves outside faults: the dc links as
// Config.DCLink, every other as Config.Network.
func (n *Nemesis) base(l link) simnet.LinkConfig {
	a, okA := n.dc[l.from]
	b, okB := n.dc[l.to]
	if okA && okB && a != b {
		return n.cfg.DCLink
	}
	return n.cfg.Network
}

// relinks reports whether f changes its links' configuration rather
// than cutting them: a link fault other than a plain cut, a dclink
// fault in mode slow.
func relinks(f *Fault) bool {
	switch f.Kind {
	case Link:
		return !onlyLoss(f)
	case DCLink:
		return f.Mode == DCLinkSlow
	}
	return false
}

// clusterOf is the cluster a fault hits: Fault.Cluster among the DCs,
// or the scheduled one.
func (n *Nemesis) clusterOf(f *Fault) (Cluster, error) {
	if f.Cluster == "" {
		return n.c, nil
	}
	for _, dc := range n.cfg.DCs {
		if dc.Name == f.Cluster {
			return dc.Cluster, nil
		}
	}
	if len(n.cfg.DCs) == 0 {
		return nil, fmt.Errorf("no cluster %q: the world has one cluster", f.Cluster)
	}
	return nil, fmt.Errorf("no cluster %q (the world has %s)", f.Cluster, strings.Join(n.dcNames(), ", "))
}

func (n *Nemesis) dcNames() []string {
	names := make([]string, len(n.cfg.DCs))
	for i, dc := range n.cfg.DCs {
		names[i] = dc.Name
	}
	return names
}

// instances lists every cluster's instances.
func (n *Nemesis) instances() []env.NodeID {
	if len(n.cfg.DCs) == 0 {
		return n.c.Instances()
	}
	var out []env.NodeID
	for _, dc := range n.cfg.DCs {
		out = append(out, dc.Cluster.Instances()...)
	}
	return out
}

// between names the clusters a dclink fault is between: its own, or
// every cluster.
func (n *Nemesis) between(f *Fault) []string {
	if len(f.Between) > 0 {
		return f.Between
	}
	return n.dcNames()
}

func (n *Nemesis) validateDCLink(f *Fault) error {
	if !slices.Contains(DCLinkModes, f.Mode) {
		return fmt.Errorf("unknown dclink mode %q (want %s)", f.Mode, strings.Join(DCLinkModes, ", "))
	}
	if len(n.cfg.DCs) < 2 {
		return fmt.Errorf("a dclink fault needs a world of several clusters (Config.DCs)")
	}
	switch {
	case len(f.Between) != 0 && len(f.Between) != 2:
		return fmt.Errorf("a dclink fault is between two clusters, or every one, not %d", len(f.Between))
	case len(f.Between) == 2 && f.Between[0] == f.Between[1]:
		return fmt.Errorf("a dclink fault is between two clusters, not %q and itself", f.Between[0])
	}
	for _, name := range f.Between {
		if !slices.Contains(n.dcNames(), name) {
			return fmt.Errorf("no cluster %q (the world has %s)", name, strings.Join(n.dcNames(), ", "))
		}
	}
	switch {
	case f.Mode == DCLinkSlow && f.Delay == nil:
		return fmt.Errorf("a dclink fault in mode slow needs a delay")
	case f.Mode == DCLinkFlap && f.Period <= 0:
		return fmt.Errorf("a dclink fault in mode flap needs a period above 0, got %s", f.Period)
	}
	if f.Delay != nil {
		return (simnet.LinkConfig{Latency: *f.Delay}).Validate()
	}
	return nil
}

// startDCLink applies a dclink fault to the dc links between its
// clusters: cut cuts them, slow adds its delay, flap cuts them now and
// restores and cuts them again every period while it lasts (each turn
// traced as nemesis.flap).
func (n *Nemesis) startDCLink(o *occurrence) (what, why string) {
	f := &o.f
	names := n.between(f)
	o.links = n.dcLinks(f.Between)
	n.snapshotLinks(o)
	pair := strings.Join(names, "|")
	if len(o.links) == 0 {
		return pair + " " + f.Mode, "no dc link between them"
	}
	switch f.Mode {
	case DCLinkCut:
		for _, l := range o.links {
			n.cut(l)
		}
		return fmt.Sprintf("%s cut: %d links", pair, len(o.links)), ""
	case DCLinkSlow:
		n.relink(o.links, o)
		return fmt.Sprintf("%s slow: %d links, delay %s %s..%s more", pair, len(o.links), f.Delay.Dist, f.Delay.Min, max(f.Delay.Min, f.Delay.Max)), ""
	}
	n.flap(o)
	return fmt.Sprintf("%s flap: %d links cut and restored every %s", pair, len(o.links), f.Period), ""
}

// flap turns a flapping fault's links over, and again a period later,
// until it stops.
func (n *Nemesis) flap(o *occurrence) {
	if o.stopped {
		return
	}
	o.flapCut = !o.flapCut
	for _, l := range o.links {
		if o.flapCut {
			n.cut(l)
		} else {
			n.uncut(l)
		}
	}
	n.w.Note(Source, "nemesis.flap", env.Int("step", int64(o.step)), env.Int("n", int64(o.n)), env.Bool("cut", o.flapCut))
	n.w.After(o.f.Period, func() { n.flap(o) })
}

// stopDCLink undoes a dclink fault: its cuts, or its delay.
func (n *Nemesis) stopDCLink(o *occurrence) {
	switch {
	case o.f.Mode == DCLinkSlow:
		n.relink(o.links, nil)
	case o.f.Mode == DCLinkCut || o.flapCut:
		for _, l := range o.links {
			n.uncut(l)
		}
		o.flapCut = false
	}
}

// slower adds a dclink fault's delay to a link's latency: a constant
// delay shifts both bounds and keeps the link's distribution, so that
// the dc link keeps its jitter; any other adds to the bounds and takes
// the delay's distribution, as a link fault's does.
func slower(c *simnet.LinkConfig, d simnet.Latency) {
	l := c.Latency
	if d.Dist == simnet.Constant {
		l.Min += d.Min
		if l.Dist != simnet.Constant {
			l.Max += d.Min
		}
	} else {
		l = simnet.Latency{Dist: d.Dist, Min: l.Min + d.Min, Max: max(l.Min, l.Max) + d.Max}
	}
	c.Latency = l
}
