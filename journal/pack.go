package journal

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/klauspost/compress/s2"
)

// A row of the records table holds one record, or a pack of several: a run
// of consecutive records of one mob and run that were committed together.
// A flow run's records are appended one at a time but committed in one
// transaction, and a commit costs SQLite about a row's worth of b-tree work
// per row in the table and in each index; packing the run's records into
// one row made its commit about 40% cheaper.
//
// A row's seq is the seq of its last record, and its n column the number of
// records it holds, so the row holds seqs seq-n+1..seq and a read from a
// cursor selects rows with seq > cursor. Its kind and at columns are its last
// record's. A plain row (n = 1) keeps its data in the data column and has no
// pack; a pack row has no data, and its pack column holds all n records in
// seq order, each encoded as
//
//	uvarint(len(kind)) kind varint(at) uvarint(len(data)+1) data
//
// with 0 in place of the data length for a record without data, after one
// format byte (packFormat). A pack whose encoding compresses well is stored
// compressed instead: the format byte packS2, then the S2 block encoding
// (github.com/klauspost/compress/s2) of the same bytes after the format
// byte. A flow run's records repeat their ids and keys, so they compress
// about sixfold (a 10-step run: 7.1 KB to 1.1 KB, in about 2 µs), and the
// row fits in its table page instead of spilling into overflow pages,
// which SQLite writes to the WAL page by page.

// The pack formats: the first byte of every pack.
const (
	packFormat = 1 // the records' encoding as is
	packS2     = 2 // S2-compressed (schema version 3 and later)
)

const (
	// maxPackRecords and maxPackBytes bound a pack, so that a read that
	// needs one record of it does not decode a large blob.
	maxPackRecords = 256
	maxPackBytes   = 64 << 10
	// minCompress is the size under which a pack is not worth compressing.
	minCompress = 256
)

// packSize is the encoded size of p in a pack, at most.
func packSize(p *pending) int {
	return 3*binary.MaxVarintLen64 + len(p.kind) + len(p.data)
}

// appendPack appends the pack of recs to b.
func appendPack(b []byte, recs []*pending) []byte {
	b = append(b, packFormat)
	for _, p := range recs {
		b = binary.AppendUvarint(b, uint64(len(p.kind)))
		b = append(b, p.kind...)
		b = binary.AppendVarint(b, p.at)
		if !p.hasData {
			b = append(b, 0)
			continue
		}
		b = binary.AppendUvarint(b, uint64(len(p.data))+1)
		b = append(b, p.data...)
	}
	return b
}

// compressPack replaces the pack that packs holds from start on with its
// compressed form when that is at least an eighth smaller, and returns
// packs. scratch holds the compressed bytes on the way and is kept for the
// next call.
func compressPack(packs []byte, start int, scratch *[]byte) []byte {
	body := packs[start+1:]
	if len(body) < minCompress {
		return packs
	}
	need := s2.MaxEncodedLen(len(body))
	if need < 0 {
		return packs // too large for a block; packRows keeps packs far smaller
	}
	if cap(*scratch) < need {
		*scratch = make([]byte, need)
	}
	enc := s2.Encode((*scratch)[:need], body)
	if len(enc) > len(body)-len(body)/8 {
		return packs
	}
	packs = append(packs[:start], packS2)
	return append(packs, enc...)
}

// packRows splits recs, consecutive records in seq order, into the rows
// they are committed as: each row's records share a mob and a run, and a
// row holds at most maxPackRecords records and maxPackBytes of pack. It
// returns the records' count of each row, appended to rows.
func packRows(rows []int, recs []*pending) []int {
	n, size := 0, 0
	for i, p := range recs {
		if n > 0 {
			prev := recs[i-1]
			if p.mob == prev.mob && p.run == prev.run && n < maxPackRecords && size+packSize(p) <= maxPackBytes {
				n++
				size += packSize(p)
				continue
			}
			rows = append(rows, n)
		}
		n, size = 1, 1+packSize(p)
	}
	if n > 0 {
		rows = append(rows, n)
	}
	return rows
}

// decodePack calls f for each of the n records of the pack b, in seq order,
// with its kind, time and data (nil for none; a subslice of b).
func decodePack(b []byte, n int, f func(kind string, at int64, data []byte)) error {
	if len(b) == 0 {
		return errors.New("empty pack")
	}
	switch b[0] {
	case packFormat:
		b = b[1:]
	case packS2:
		size, err := s2.DecodedLen(b[1:])
		switch {
		case err != nil:
			return fmt.Errorf("compressed pack: %w", err)
		case size > maxPackBytes:
			// packRows never makes one this large: do not allocate it.
			return fmt.Errorf("compressed pack of %d bytes decompresses to %d, over the %d a pack may hold", len(b), size, maxPackBytes)
		}
		if b, err = s2.Decode(make([]byte, size), b[1:]); err != nil {
			return fmt.Errorf("compressed pack: %w", err)
		}
	default:
		return fmt.Errorf("unknown pack format %d", b[0])
	}
	for i := range n {
		kl, k := binary.Uvarint(b)
		if k <= 0 || kl > uint64(len(b)-k) {
			return fmt.Errorf("record %d of %d: bad kind length", i+1, n)
		}
		kind := string(b[k : k+int(kl)])
		b = b[k+int(kl):]
		at, k := binary.Varint(b)
		if k <= 0 {
			return fmt.Errorf("record %d of %d: bad time", i+1, n)
		}
		b = b[k:]
		dl, k := binary.Uvarint(b)
		if k <= 0 || dl > uint64(len(b)-k)+1 {
			return fmt.Errorf("record %d of %d: bad data length", i+1, n)
		}
		b = b[k:]
		var data []byte
		if dl > 0 {
			data = b[: dl-1 : dl-1]
			b = b[dl-1:]
		}
		f(kind, at, data)
	}
	if len(b) != 0 {
		return fmt.Errorf("%d bytes after its %d records", len(b), n)
	}
	return nil
}
