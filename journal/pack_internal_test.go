package journal

import (
	"crypto/rand"
	"fmt"
	"slices"
	"testing"
)

// decoded is a record as decodePack gives it.
type decoded struct {
	kind string
	at   int64
	data string
	has  bool
}

func decodeAll(b []byte, n int) ([]decoded, error) {
	var out []decoded
	err := decodePack(b, n, func(kind string, at int64, data []byte) {
		out = append(out, decoded{kind, at, string(data), data != nil})
	})
	return out, err
}

// FuzzDecodePack checks that decodePack never panics on arbitrary bytes,
// and that what it decodes encodes and decodes again to the same records.
func FuzzDecodePack(f *testing.F) {
	f.Add(appendPack(nil, []*pending{
		{kind: "step_dispatched", at: 1795673782355000000, data: `{"step_id":"s0"}`, hasData: true},
		{kind: "b", at: -5},
		{kind: "é", at: 0, data: `"x"`, hasData: true},
	}), 3)
	f.Add(appendPack(nil, []*pending{{kind: "k", at: 1}}), 2)
	f.Add(compressPack(appendPack(nil, flowRun(8)), 0, new([]byte)), 8)
	f.Add([]byte{packS2, 0xff, 0xff, 0xff, 0xff, 0x0f}, 1)
	f.Add([]byte{packFormat}, 0)
	f.Add([]byte{packFormat, 0x80, 0x80}, 1)
	f.Add([]byte{}, 1)
	f.Fuzz(func(t *testing.T, b []byte, n int) {
		if n < 0 || n > 1<<12 {
			return
		}
		got, err := decodeAll(b, n)
		if err != nil {
			return
		}
		if len(got) != n {
			t.Fatalf("decoded %d records, asked for %d", len(got), n)
		}
		recs := make([]*pending, n)
		for i, d := range got {
			recs[i] = &pending{kind: d.kind, at: d.at, data: d.data, hasData: d.has}
		}
		again, err := decodeAll(appendPack(nil, recs), n)
		if err != nil || !slices.Equal(again, got) {
			t.Fatalf("re-encoded records decode to %+v, %v; want %+v", again, err, got)
		}
	})
}

func TestPackRows(t *testing.T) {
	rec := func(mob, run string, size int) *pending {
		return &pending{mob: mob, run: run, kind: "k", data: string(make([]byte, size)), hasData: size > 0}
	}
	many := func(n int, mob, run string, size int) []*pending {
		out := make([]*pending, n)
		for i := range out {
			out[i] = rec(mob, run, size)
		}
		return out
	}
	tests := []struct {
		name string
		recs []*pending
		want []int
	}{
		{"none", nil, nil},
		{"one", many(1, "m", "r", 10), []int{1}},
		{"one run", many(32, "m", "r", 200), []int{32}},
		{"runs alternate", []*pending{rec("m", "a", 1), rec("m", "b", 1), rec("m", "a", 1), rec("m", "a", 1)}, []int{1, 1, 2}},
		{"mobs differ", []*pending{rec("m", "", 1), rec("n", "", 1), rec("n", "", 1)}, []int{1, 2}},
		{"record cap", many(maxPackRecords+44, "m", "r", 1), []int{maxPackRecords, 44}},
		{"byte cap", many(5, "m", "r", maxPackBytes/2), []int{1, 1, 1, 1, 1}},
		{"byte cap, small", many(70, "m", "r", 2000), []int{32, 32, 6}},
	}
	for _, tt := range tests {
		if got := packRows(nil, tt.recs); !slices.Equal(got, tt.want) {
			t.Errorf("%s: packRows = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// flowRun returns n records like those of a flow run, which repeat their
// ids and keys.
func flowRun(n int) []*pending {
	recs := make([]*pending, n)
	for i := range recs {
		recs[i] = &pending{kind: "step_target_completed", at: 1795673782355000000 + int64(i)*700_000, hasData: true,
			data: fmt.Sprintf(`{"flow_id":"chain","step_id":"s%d","member":"worker","session_id":"01a21764-3d05-7c3a-881d-23fdb5cf10fa","attempt":1,"key":"01a21764-3d07-7532-b34e-2e579ea5026b/|s%d/worker/1","output":"the quick brown fox"}`, i, i)}
	}
	return recs
}

func TestCompressPack(t *testing.T) {
	random := make([]byte, 2000)
	if _, err := rand.Read(random); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		recs       []*pending
		compressed bool
	}{
		{"small", flowRun(1)[:1], false},
		{"flow run", flowRun(32), true},
		{"incompressible", []*pending{{kind: "k", data: string(random), hasData: true}, {kind: "k"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := appendPack([]byte("before"), tt.recs)
			got := compressPack(slices.Clone(raw), len("before"), new([]byte))
			if string(got[:len("before")]) != "before" {
				t.Fatalf("the bytes before the pack changed: %q", got[:len("before")])
			}
			pack := got[len("before"):]
			if compressed := pack[0] == packS2; compressed != tt.compressed {
				t.Fatalf("format %d (%d bytes from %d), want compressed %v", pack[0], len(pack), len(raw)-len("before"), tt.compressed)
			}
			if tt.compressed && len(pack) > (len(raw)-len("before"))/3 {
				t.Errorf("compressed to %d bytes from %d; want a third or less", len(pack), len(raw)-len("before"))
			}
			want, err := decodeAll(raw[len("before"):], len(tt.recs))
			if err != nil {
				t.Fatal(err)
			}
			if dec, err := decodeAll(pack, len(tt.recs)); err != nil || !slices.Equal(dec, want) {
				t.Fatalf("decoded %+v, %v; want %+v", dec, err, want)
			}
		})
	}
}

func TestDecodeBadCompressedPack(t *testing.T) {
	good := compressPack(appendPack(nil, flowRun(8)), 0, new([]byte))
	if good[0] != packS2 {
		t.Fatal("fixture not compressed")
	}
	tests := []struct {
		name string
		pack []byte
	}{
		{"empty", []byte{packS2}},
		{"truncated", good[:len(good)-3]},
		{"too large", []byte{packS2, 0x80, 0x80, 0x80, 0x80, 0x01}}, // 256 MiB claimed
		{"bad length", []byte{packS2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
	}
	for _, tt := range tests {
		if got, err := decodeAll(tt.pack, 8); err == nil {
			t.Errorf("%s: decoded %d records, want an error", tt.name, len(got))
		}
	}
}
