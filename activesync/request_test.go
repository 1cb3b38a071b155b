package activesync_test

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"airlock/activesync"
)

// encodedQuery builds MS-ASHTTP 2.2.1.1.1.1's binary request line.
func encodedQuery(version, cmd byte, deviceID string, policyKey uint32, deviceType string, params map[byte]string) []byte {
	var b bytes.Buffer
	b.WriteByte(version)
	b.WriteByte(cmd)
	binary.Write(&b, binary.LittleEndian, uint16(0x0809))
	b.WriteByte(byte(len(deviceID)))
	b.WriteString(deviceID)
	if policyKey != 0 {
		b.WriteByte(4)
		binary.Write(&b, binary.LittleEndian, policyKey)
	} else {
		b.WriteByte(0)
	}
	b.WriteByte(byte(len(deviceType)))
	b.WriteString(deviceType)
	for tag, v := range params {
		b.WriteByte(tag)
		b.WriteByte(byte(len(v)))
		b.WriteString(v)
	}
	return b.Bytes()
}

func TestParseQuery(t *testing.T) {
	// Find a device id whose encoding contains '+', the character a
	// query decoder would turn into a space (a bug found by the WM 6.5
	// conversation test).
	var withPlus string
	for i := 0; withPlus == ""; i++ {
		enc := base64.StdEncoding.EncodeToString(encodedQuery(121, 9, "WM65"+strings.Repeat("x", i%7)+string(rune('A'+i%26)), 3735928559, "PocketPC", map[byte]string{8: "ann@example.nhs.uk"}))
		if strings.Contains(enc, "+") {
			withPlus = enc
		}
	}
	cases := []struct {
		name, raw string
		header    map[string]string
		want      activesync.Query
		wantErr   bool
	}{
		{name: "plain", raw: "Cmd=Sync&User=ann&DeviceId=Appl123&DeviceType=iPhone", header: map[string]string{"MS-ASProtocolVersion": "14.1"},
			want: activesync.Query{Cmd: "Sync", User: "ann", DeviceID: "Appl123", DeviceType: "iPhone", ProtocolVersion: activesync.V141}},
		{name: "plain 12.x SendMail", raw: "Cmd=SendMail&User=ann&DeviceId=X1&DeviceType=PocketPC&SaveInSent=T", header: map[string]string{"MS-ASProtocolVersion": "12.1"},
			want: activesync.Query{Cmd: "SendMail", User: "ann", DeviceID: "X1", DeviceType: "PocketPC", SaveInSent: true, ProtocolVersion: activesync.V121}},
		{name: "base64 with key and params", raw: base64.StdEncoding.EncodeToString(encodedQuery(141, 19, "ABCDEF", 42, "WP", map[byte]string{1: "5", 3: "5:12", 7: "\x03", 8: "ann"})),
			want: activesync.Query{Cmd: "ItemOperations", User: "ann", DeviceID: "ABCDEF", DeviceType: "WP", PolicyKey: "42", ProtocolVersion: activesync.V141,
				CollectionID: "5", ItemID: "5:12", SaveInSent: true, AcceptMultiPart: true, Locale: 0x0809}},
		{name: "base64 binary DeviceId shown in hex", raw: base64.StdEncoding.EncodeToString(encodedQuery(140, 0, "\x01\x02\xff", 0, "WP", nil)),
			want: activesync.Query{Cmd: "Sync", DeviceID: "0102FF", DeviceType: "WP", ProtocolVersion: activesync.V140, Locale: 0x0809}},
		{name: "base64 with an unescaped plus", raw: withPlus},
		{name: "base64 with an escaped plus", raw: url.QueryEscape(withPlus)},
		{name: "truncated base64", raw: base64.StdEncoding.EncodeToString([]byte{121, 9, 0x09, 0x08, 10, 'A'}), wantErr: true},
		{name: "bad policy key length", raw: base64.StdEncoding.EncodeToString([]byte{121, 9, 0x09, 0x08, 1, 'A', 3, 1, 2, 3}), wantErr: true},
		{name: "empty", raw: "", wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/Microsoft-Server-ActiveSync?"+tc.raw, nil)
			for k, v := range tc.header {
				r.Header.Set(k, v)
			}
			q, err := activesync.ParseQuery(r)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("no error for %q: %+v", tc.raw, q)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(tc.name, "plus") {
				if q.Cmd != "FolderSync" || q.DeviceType != "PocketPC" || q.User != "ann@example.nhs.uk" || q.PolicyKey != "3735928559" {
					t.Fatalf("got %+v", q)
				}
				return
			}
			if q != tc.want {
				t.Fatalf("got  %+v\nwant %+v", q, tc.want)
			}
		})
	}
}
