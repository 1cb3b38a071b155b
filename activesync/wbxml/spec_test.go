package wbxml

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// MS-ASWBXML section 3, "Algorithm Examples": a Sync response with a new
// contact, XML and bytes as printed in the specification.
const specSyncXML = `<?xml version="1.0" encoding="utf-8"?>
<Sync xmlns="AirSync" xmlns:airsyncbase="AirSyncBase" xmlns:contacts="Contacts">
  <Collections>
    <Collection>
      <Class>Contacts</Class>
      <SyncKey>2</SyncKey>
      <CollectionId>2</CollectionId>
      <Status>1</Status>
      <Commands>
        <Add>
          <ServerId>2:1</ServerId>
          <ApplicationData>
            <airsyncbase:Body>
              <airsyncbase:Type>1</airsyncbase:Type>
              <airsyncbase:EstimatedDataSize>0</airsyncbase:EstimatedDataSize>
              <airsyncbase:Truncated>1</airsyncbase:Truncated>
            </airsyncbase:Body>
            <contacts:FileAs>Funk, Don</contacts:FileAs>
            <contacts:FirstName>Don</contacts:FirstName>
            <contacts:LastName>Funk</contacts:LastName>
            <airsyncbase:NativeBodyType>1</airsyncbase:NativeBodyType>
          </ApplicationData>
        </Add>
      </Commands>
    </Collection>
  </Collections>
</Sync>`

const specSyncHex = `03 01 6A 00 45 5C 4F 50 03 43 6F 6E 74 61 63 74 73 00 01 4B 03 32 00 01 52 03 32 00 01 4E 03 31 00 01 56 47 4D 03 32 3A 31 00 01 5D 00 11 4A 46 03 31 00 01 4C 03 30 00 01 4D 03 31 00 01 01 00 01 5E 03 46 75 6E 6B 2C 20 44 6F 6E 00 01 5F 03 44 6F 6E 00 01 69 03 46 75 6E 6B 00 01 00 11 56 03 31 00 01 01 01 01 01 01 01`

func TestSpecExampleSync(t *testing.T) {
	want := unhex(t, specSyncHex)
	doc := mustParseXML(t, specSyncXML)
	got, err := Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("encoding differs from MS-ASWBXML section 3\n got % X\nwant % X", got, want)
	}
	back, err := Unmarshal(want)
	if err != nil {
		t.Fatal(err)
	}
	if d := diffElements(doc.Root(), back.Root()); d != "" {
		t.Fatal(d)
	}
}

// The Find code page (25) and three 16.1 tokens are unknown to libwbxml
// 0.11.8, so they are checked against bytes assembled by hand from the
// token values printed in MS-ASWBXML section 2.1.2.1.26 (Find) and, for
// MeetingResponse 0x10/0x11 and Provision 0x3B, sections 2.1.2.1.9 and
// 2.1.2.1.15 as transcribed in two independent implementations.
func TestSpecBytesForTokensLibwbxmlLacks(t *testing.T) {
	cases := []struct{ name, xml, hex string }{
		{"Find request", `<Find xmlns="Find:" xmlns:airsync="AirSync:"><SearchId>1</SearchId><ExecuteSearch><MailBoxSearchCriterion><Query><airsync:Class>Email</airsync:Class><airsync:CollectionId>5</airsync:CollectionId><FreeText>rota</FreeText></Query><Options><Range>0-9</Range><DeepTraversal/></Options></MailBoxSearchCriterion></ExecuteSearch></Find>`,
			`03016A00 0019 45 46 033100 01 47 48 49 0000 50 03456D61696C00 01 52 033500 01 0019 4B 03726F746100 01 01 4C 4D 03302D3900 01 0E 01 01 01 01`},
		{"Find GAL request", `<Find xmlns="Find:"><SearchId>2</SearchId><ExecuteSearch><GalSearchCriterion><Query><FreeText>b</FreeText></Query><Options><Range>0-1</Range><Picture><MaxSize>9</MaxSize><MaxPictures>1</MaxPictures></Picture></Options></GalSearchCriterion></ExecuteSearch></Find>`,
			`03016A00 0019 45 46 033200 01 47 59 49 4B 036200 01 01 4C 4D 03302D3100 01 62 61 033900 01 60 033100 01 01 01 01 01 01`},
		{"Find response", `<Find xmlns="Find:"><Status>1</Status><Response><Status>1</Status><Result><Properties><Preview>p</Preview><HasAttachments>0</HasAttachments><DisplayCc>c</DisplayCc><DisplayBcc/></Properties></Result><Range>0-0</Range><Total>1</Total></Response></Find>`,
			`03016A00 0019 45 4A 033100 01 51 4A 033100 01 52 53 54 037000 01 55 033000 01 57 036300 01 18 01 01 4D 03302D3000 01 56 033100 01 01 01`},
		{"MeetingResponse proposal", `<MeetingResponse xmlns="MeetingResponse:"><Request><SendResponse><ProposedStartTime>s</ProposedStartTime><ProposedEndTime>e</ProposedEndTime></SendResponse></Request></MeetingResponse>`,
			`03016A00 0008 47 49 52 50 037300 01 51 036500 01 01 01 01`},
		{"Provision account-only wipe", `<Provision xmlns="Provision:"><Status>1</Status><AccountOnlyRemoteWipe/></Provision>`,
			`03016A00 000E 45 4B 033100 01 3B 01`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want := unhex(t, c.hex)
			doc := mustParseXML(t, c.xml)
			got, err := Marshal(doc)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("\n got % X\nwant % X", got, want)
			}
			back, err := Unmarshal(want)
			if err != nil {
				t.Fatal(err)
			}
			if d := diffElements(doc.Root(), back.Root()); d != "" {
				t.Fatal(d)
			}
		})
	}
}

// libwbxml writes the public identifier as a string in the string table
// (public id 0x00 followed by an index); devices write 0x01. Both decode.
func TestLiteralPublicID(t *testing.T) {
	lit := append([]byte{0x03, 0x00, 0x00, 0x6A, byte(len(ActiveSyncPublicID) + 1)}, ActiveSyncPublicID...)
	lit = append(lit, 0x00, 0x45, 0x4B, 0x83, 0x00, 0x01, 0x01)
	doc, err := Unmarshal(lit)
	if err != nil {
		t.Fatal(err)
	}
	// STR_T 0 points at the public identifier string itself.
	if got := doc.Root().SelectElement("AirSync:SyncKey").Text(); got != ActiveSyncPublicID {
		t.Fatalf("STR_T gave %q", got)
	}
}
