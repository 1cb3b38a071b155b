package activesync

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"strings"
	"testing"
)

// The example of MS-OXRTFCP 4.1 (compressing "{\rtf1\ansi\ansicpg1252\pard
// hello world}\r\n"): a stream written by another implementation, with
// references into the prebuffer and its CRC.
func TestDecompressRTFSpecExample(t *testing.T) {
	comp, _ := hex.DecodeString("2d0000002b0000004c5a4675f1c5c7a703000a00726370673132354232" +
		"0af32068656c0900206277" + "05b06c647d0a800fa0")
	got, err := decompressRTF(comp)
	if err != nil {
		t.Fatal(err)
	}
	if want := "{\\rtf1\\ansi\\ansicpg1252\\pard hello world}\r\n"; string(got) != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	txt, err := rtfToText(got)
	if err != nil || txt != "hello world\n" {
		t.Fatalf("text %q, %v", txt, err)
	}
}

// lzfuLiterals writes data as a compressed (LZFu) stream of literals and
// the end reference: what a minimal compressor produces.
func lzfuLiterals(data []byte) []byte {
	var body []byte
	w := len(rtfPrebuffer)
	for i := 0; ; {
		var control byte
		run := []byte{}
		bit := 0
		for ; bit < 8 && i < len(data); bit++ {
			run = append(run, data[i])
			i++
			w = (w + 1) % 4096
		}
		if bit < 8 {
			control |= 1 << bit
			run = append(run, byte(w>>4), byte(w<<4))
			body = append(append(body, control), run...)
			break
		}
		body = append(append(body, control), run...)
	}
	hdr := make([]byte, 16)
	binary.LittleEndian.PutUint32(hdr[0:], uint32(len(body)+12))
	binary.LittleEndian.PutUint32(hdr[4:], uint32(len(data)))
	binary.LittleEndian.PutUint32(hdr[8:], rtfMagicCompressed)
	binary.LittleEndian.PutUint32(hdr[12:], ^crc32.Update(^uint32(0), crc32.IEEETable, body))
	return append(hdr, body...)
}

func TestRTFRoundTrip(t *testing.T) {
	for _, text := range []string{
		"hello world\n",
		"Ward 7 {bay 3} \\ obs: 4h\nsecond line\n",
		"Zoë’s note — 30 °C, ✓, 𝄞 clef\n",
		"\ttabbed\n",
	} {
		rtf := rtfFromText(text)
		for name, comp := range map[string][]byte{"MELA": compressRTF(rtf), "LZFu": lzfuLiterals(rtf)} {
			raw, err := decompressRTF(comp)
			if err != nil {
				t.Fatalf("%s %q: %v", name, text, err)
			}
			if string(raw) != string(rtf) {
				t.Fatalf("%s: decompressed %q, want %q", name, raw, rtf)
			}
			got, err := rtfToText(raw)
			if err != nil || got != text {
				t.Fatalf("%s: text %q (%v), want %q", name, got, err, text)
			}
		}
	}
}

func TestDecompressRTFRefusesBadInput(t *testing.T) {
	good := lzfuLiterals(rtfFromText("x\n"))
	badCRC := append([]byte(nil), good...)
	badCRC[len(badCRC)-3] ^= 0xff
	long := compressRTF([]byte("{\\rtf1 x}"))
	binary.LittleEndian.PutUint32(long[4:], 1<<30)
	for name, in := range map[string][]byte{
		"empty":         nil,
		"short header":  good[:10],
		"bad CRC":       badCRC,
		"unknown type":  append(append([]byte{}, good[:8]...), append([]byte("ABCD"), good[12:]...)...),
		"sizes":         good[:20],
		"huge raw size": long,
	} {
		if _, err := decompressRTF(in); !errors.Is(err, errRTF) {
			t.Errorf("%s: err %v, want errRTF", name, err)
		}
	}
	if _, err := rtfToText([]byte("plain words")); !errors.Is(err, errRTF) {
		t.Errorf("non-RTF: %v", err)
	}
	// Destinations are not text; \'hh is Windows-1252.
	got, _ := rtfToText([]byte(`{\rtf1\ansi{\fonttbl{\f0 Arial;}}{\*\generator Foo;}caf\'e9 \'80\par end}`))
	if !strings.HasPrefix(got, "café €\nend") {
		t.Errorf("text %q", got)
	}
}
