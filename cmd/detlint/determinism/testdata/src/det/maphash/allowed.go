package maphash

import "hash/maphash" //detlint:allow maphash hashes only pick a shard, never an order

var h maphash.Hash //detlint:allow maphash picks a shard only

func sum(b []byte) uint64 {
	h.Write(b)
	return h.Sum64()
}
