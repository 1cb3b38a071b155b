package wbxml

import (
	"bytes"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/beevik/etree"
)

var benchFilesDir = flag.String("benchfiles", "", "TestWriteBenchFiles writes the benchmark documents to this directory (used by bench_libwbxml.sh)")

// syncResponse100 builds a realistic Sync response: 100 emails, each with
// headers, a 4 KB HTML body, an attachment and conversation data.
func syncResponse100() *etree.Document {
	doc := etree.NewDocument()
	sync := doc.CreateElement("AirSync:Sync")
	coll := sync.CreateElement("AirSync:Collections").CreateElement("AirSync:Collection")
	coll.CreateElement("AirSync:SyncKey").SetText("1390345264")
	coll.CreateElement("AirSync:CollectionId").SetText("5")
	coll.CreateElement("AirSync:Status").SetText("1")
	cmds := coll.CreateElement("AirSync:Commands")
	para := "<p>Ward round notes: patient stable, observations within range, continue current plan &amp; review bloods tomorrow.</p>\n"
	body := strings.Repeat(para, 4096/len(para)+1)[:4096]
	for i := 0; i < 100; i++ {
		add := cmds.CreateElement("AirSync:Add")
		add.CreateElement("AirSync:ServerId").SetText(fmt.Sprintf("5:%d", i+1))
		ad := add.CreateElement("AirSync:ApplicationData")
		ad.CreateElement("Email:To").SetText(`"Dr Ada Lovelace" <ada.lovelace@example.nhs.uk>`)
		ad.CreateElement("Email:From").SetText(`"Pathology" <pathology@example.nhs.uk>`)
		ad.CreateElement("Email:Subject").SetText(fmt.Sprintf("Results ready for bed %d", i%30+1))
		ad.CreateElement("Email:DateReceived").SetText("2024-06-03T09:41:12.000Z")
		ad.CreateElement("Email:DisplayTo").SetText("Dr Ada Lovelace")
		ad.CreateElement("Email:ThreadTopic").SetText(fmt.Sprintf("Results ready for bed %d", i%30+1))
		ad.CreateElement("Email:Importance").SetText("1")
		ad.CreateElement("Email:Read").SetText("0")
		att := ad.CreateElement("AirSyncBase:Attachments").CreateElement("AirSyncBase:Attachment")
		att.CreateElement("AirSyncBase:DisplayName").SetText("report.pdf")
		att.CreateElement("AirSyncBase:FileReference").SetText(fmt.Sprintf("5%%3a%d%%3a0", i+1))
		att.CreateElement("AirSyncBase:Method").SetText("1")
		att.CreateElement("AirSyncBase:EstimatedDataSize").SetText("48211")
		b := ad.CreateElement("AirSyncBase:Body")
		b.CreateElement("AirSyncBase:Type").SetText("2")
		b.CreateElement("AirSyncBase:EstimatedDataSize").SetText("4096")
		b.CreateElement("AirSyncBase:Truncated").SetText("0")
		b.CreateElement("AirSyncBase:Data").SetText(body)
		ad.CreateElement("Email:MessageClass").SetText("IPM.Note")
		ad.CreateElement("Email:InternetCPID").SetText("65001")
		ad.CreateElement("AirSyncBase:NativeBodyType").SetText("2")
		SetBytes(ad.CreateElement("Email2:ConversationId"), []byte(fmt.Sprintf("conv-%011d", i)))
		SetBytes(ad.CreateElement("Email2:ConversationIndex"), []byte{1, 2, 3, 4, 5})
	}
	return doc
}

// itemOperations10MB builds an ItemOperations response whose Data carries a
// 10 MB base64 attachment ([MS-ASCMD] 2.2.3.39.2: Data is a base64 string).
func itemOperations10MB() *etree.Document {
	raw := make([]byte, 10<<20*3/4)
	for i := range raw {
		raw[i] = byte(i*131 + i>>8)
	}
	doc := etree.NewDocument()
	root := doc.CreateElement("ItemOperations:ItemOperations")
	root.CreateElement("ItemOperations:Status").SetText("1")
	f := root.CreateElement("ItemOperations:Response").CreateElement("ItemOperations:Fetch")
	f.CreateElement("ItemOperations:Status").SetText("1")
	f.CreateElement("AirSyncBase:FileReference").SetText("5%3a1%3a0")
	p := f.CreateElement("ItemOperations:Properties")
	p.CreateElement("AirSyncBase:ContentType").SetText("application/pdf")
	p.CreateElement("ItemOperations:Range").SetText(fmt.Sprintf("0-%d", len(raw)-1))
	p.CreateElement("ItemOperations:Total").SetText(fmt.Sprint(len(raw)))
	p.CreateElement("ItemOperations:Data").SetText(base64.StdEncoding.EncodeToString(raw))
	return doc
}

var benchDocs struct {
	once       sync.Once
	sync, item []byte
	syncDoc    *etree.Document
	itemDoc    *etree.Document
}

func benchInputs(tb testing.TB) {
	benchDocs.once.Do(func() {
		var err error
		benchDocs.syncDoc = syncResponse100()
		benchDocs.itemDoc = itemOperations10MB()
		if benchDocs.sync, err = Marshal(benchDocs.syncDoc); err != nil {
			panic(err)
		}
		if benchDocs.item, err = Marshal(benchDocs.itemDoc); err != nil {
			panic(err)
		}
	})
}

// TestWriteBenchFiles writes the benchmark documents for bench_libwbxml.sh;
// it does nothing unless -benchfiles is given.
func TestWriteBenchFiles(t *testing.T) {
	if *benchFilesDir == "" {
		t.Skip("no -benchfiles directory")
	}
	benchInputs(t)
	for name, data := range map[string][]byte{"sync100.wbxml": benchDocs.sync, "itemops10mb.wbxml": benchDocs.item} {
		if err := os.WriteFile(filepath.Join(*benchFilesDir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func benchCases(b *testing.B) []struct {
	name string
	data []byte
	doc  *etree.Document
} {
	benchInputs(b)
	return []struct {
		name string
		data []byte
		doc  *etree.Document
	}{
		{"Sync100x4KB", benchDocs.sync, benchDocs.syncDoc},
		{"ItemOperations10MB", benchDocs.item, benchDocs.itemDoc},
	}
}

// BenchmarkDecode: WBXML -> etree (Unmarshal).
func BenchmarkDecode(b *testing.B) {
	for _, c := range benchCases(b) {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.data)))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := Unmarshal(c.data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecodeToXML: WBXML -> etree -> indented XML, the same work as
// wbxml2xml (see bench_libwbxml.sh).
func BenchmarkDecodeToXML(b *testing.B) {
	for _, c := range benchCases(b) {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.data)))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				doc, err := Unmarshal(c.data)
				if err != nil {
					b.Fatal(err)
				}
				if err := WriteXML(io.Discard, doc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPullDecoder: the token stream alone, no tree.
func BenchmarkPullDecoder(b *testing.B) {
	for _, c := range benchCases(b) {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.data)))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				d := NewDecoder(c.data, Limits{})
				for {
					if _, err := d.Next(); err != nil {
						if err != io.EOF {
							b.Fatal(err)
						}
						break
					}
				}
			}
		})
	}
}

// BenchmarkEncode: etree -> WBXML (Marshal).
func BenchmarkEncode(b *testing.B) {
	for _, c := range benchCases(b) {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.data)))
			b.ReportAllocs()
			var buf bytes.Buffer
			for i := 0; i < b.N; i++ {
				buf.Reset()
				if err := NewEncoder(&buf).EncodeDocument(c.doc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkEncodeStream25MB: a 25 MB attachment streamed as OPAQUE and as
// base64 text; B/op shows the memory does not grow with the value.
func BenchmarkEncodeStream25MB(b *testing.B) {
	for _, mode := range []string{"OpaqueFrom", "Base64From"} {
		b.Run(mode, func(b *testing.B) {
			b.SetBytes(bigValue)
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				e := NewEncoder(io.Discard)
				e.StartName("ItemOperations:ItemOperations")
				e.StartName("ItemOperations:Data")
				var err error
				if mode == "OpaqueFrom" {
					err = e.OpaqueFrom(&patternReader{n: bigValue}, bigValue)
				} else {
					err = e.Base64From(&patternReader{n: bigValue})
				}
				e.End()
				e.End()
				if err == nil {
					err = e.Close()
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
