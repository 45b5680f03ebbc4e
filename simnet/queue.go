package simnet

// queue is the world's event heap, ordered by (time, sequence). Entries are
// small keys into a slot table so that sifting moves 24 bytes, not a whole
// event; slots are reused through a free list so a long run allocates
// nothing per event.
type queue struct {
	heap  []entry
	slots []slot
	free  []int32
	seq   int64 // last sequence number given out by push
	front int64 // lowest sequence number given out by pushFront
}

type entry struct {
	at   int64
	seq  int64
	slot int32
}

func (a entry) before(b entry) bool {
	return a.at < b.at || (a.at == b.at && a.seq < b.seq)
}

// push schedules s at time at, after everything already scheduled for that
// time.
func (q *queue) push(at int64, s slot) {
	q.seq++
	q.insert(at, q.seq, s)
}

// pushFront schedules ss at time at, in order, before everything already
// scheduled for that time: events a paused node held come due before
// anything that arrived at the moment it resumed.
func (q *queue) pushFront(at int64, ss []slot) {
	q.front -= int64(len(ss))
	for i, s := range ss {
		q.insert(at, q.front+int64(i), s)
	}
}

func (q *queue) insert(at, seq int64, s slot) {
	var i int32
	if n := len(q.free); n > 0 {
		i = q.free[n-1]
		q.free = q.free[:n-1]
		q.slots[i] = s
	} else {
		i = int32(len(q.slots))
		q.slots = append(q.slots, s)
	}
	q.heap = append(q.heap, entry{at: at, seq: seq, slot: i})
	q.up(len(q.heap) - 1)
}

// pop removes the earliest entry. The caller reads its slot and then
// releases it.
func (q *queue) pop() entry {
	h := q.heap
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	q.heap = h[:last]
	if last > 0 {
		q.down(0)
	}
	return top
}

func (q *queue) release(i int32) {
	q.slots[i] = slot{}
	q.free = append(q.free, i)
}

func (q *queue) up(i int) {
	h := q.heap
	e := h[i]
	for i > 0 {
		p := (i - 1) / 2
		if !e.before(h[p]) {
			break
		}
		h[i] = h[p]
		i = p
	}
	h[i] = e
}

func (q *queue) down(i int) {
	h := q.heap
	n := len(h)
	e := h[i]
	for {
		c := 2*i + 1
		if c >= n {
			break
		}
		if r := c + 1; r < n && h[r].before(h[c]) {
			c = r
		}
		if !h[c].before(e) {
			break
		}
		h[i] = h[c]
		i = c
	}
	h[i] = e
}
