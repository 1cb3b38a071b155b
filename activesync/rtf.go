package activesync

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"strconv"
	"strings"
	"unicode/utf16"
)

// RTF bodies (AirSyncBase Body Type 3). MS-ASAIRS 2.2.2.20.1 Data: an RTF
// body travels base64-encoded, and it is compressed RTF as MS-OXRTFCP
// defines it. We send the "uncompressed" form (COMPTYPE MELA, 2.1.3.1.1),
// which every reader of compressed RTF accepts and which needs no
// compressor; we read both forms (LZFu too), so a device that writes RTF in
// a draft is understood.

const (
	rtfMagicCompressed   = 0x75465a4c // "LZFu"
	rtfMagicUncompressed = 0x414c454d // "MELA"
	rtfHeaderSize        = 16
	// rtfMaxRaw bounds what a device's compressed RTF may expand to.
	rtfMaxRaw = 32 << 20
)

// errRTF is compressed RTF that cannot be read.
var errRTF = errors.New("malformed compressed RTF")

// compressRTF wraps rtf in the MS-OXRTFCP 2.1.3.1 header, uncompressed:
// COMPSIZE counts what follows it (the rest of the header and the data),
// RAWSIZE the data, and the CRC is 0 (2.1.3.1.1).
func compressRTF(rtf []byte) []byte {
	out := make([]byte, rtfHeaderSize, rtfHeaderSize+len(rtf))
	binary.LittleEndian.PutUint32(out[0:], uint32(len(rtf)+rtfHeaderSize-4))
	binary.LittleEndian.PutUint32(out[4:], uint32(len(rtf)))
	binary.LittleEndian.PutUint32(out[8:], rtfMagicUncompressed)
	return append(out, rtf...)
}

// rtfPrebuffer is the dictionary's initial content (MS-OXRTFCP 3.1.1.1.1).
const rtfPrebuffer = "{\\rtf1\\ansi\\mac\\deff0\\deftab720{\\fonttbl;}{\\f0\\fnil \\froman \\fswiss \\fmodern \\fscript \\fdecor MS Sans SerifSymbolArialTimes New RomanCourier{\\colortbl\\red0\\green0\\blue0\r\n\\par \\pard\\plain\\f0\\fs20\\b\\i\\u\\tab\\tx"

// decompressRTF reads compressed RTF (MS-OXRTFCP 3.1.1.1, both forms).
func decompressRTF(data []byte) ([]byte, error) {
	if len(data) < rtfHeaderSize {
		return nil, fmt.Errorf("%d bytes: %w", len(data), errRTF)
	}
	compSize := binary.LittleEndian.Uint32(data[0:])
	rawSize := binary.LittleEndian.Uint32(data[4:])
	magic := binary.LittleEndian.Uint32(data[8:])
	crc := binary.LittleEndian.Uint32(data[12:])
	if rawSize > rtfMaxRaw || uint64(compSize)+4 > uint64(len(data)) || compSize < rtfHeaderSize-4 {
		return nil, fmt.Errorf("sizes %d/%d of %d bytes: %w", compSize, rawSize, len(data), errRTF)
	}
	body := data[rtfHeaderSize : compSize+4]
	switch magic {
	case rtfMagicUncompressed:
		if uint32(len(body)) < rawSize {
			return nil, fmt.Errorf("short uncompressed RTF: %w", errRTF)
		}
		return body[:rawSize], nil
	case rtfMagicCompressed:
	default:
		return nil, fmt.Errorf("type %#x: %w", magic, errRTF)
	}
	// MS-OXRTFCP 3.1.3.2: the CRC-32 of the compressed data, without the
	// usual pre- and post-inversion.
	if got := ^crc32.Update(^uint32(0), crc32.IEEETable, body); got != crc {
		return nil, fmt.Errorf("CRC %#x, want %#x: %w", got, crc, errRTF)
	}
	var dict [4096]byte
	copy(dict[:], rtfPrebuffer)
	w := len(rtfPrebuffer)
	out := make([]byte, 0, rawSize)
	for i := 0; i < len(body); {
		control := body[i]
		i++
		for bit := 0; bit < 8; bit++ {
			if i >= len(body) {
				break
			}
			if control&(1<<bit) == 0 {
				b := body[i]
				i++
				out = append(out, b)
				dict[w] = b
				w = (w + 1) % len(dict)
				continue
			}
			if i+1 >= len(body) {
				return nil, fmt.Errorf("cut reference: %w", errRTF)
			}
			ref := int(body[i])<<8 | int(body[i+1])
			i += 2
			offset, length := ref>>4, ref&0xf+2
			if offset == w {
				return out, nil // the end marker (3.1.1.1.2)
			}
			for k := 0; k < length; k++ {
				b := dict[(offset+k)%len(dict)]
				out = append(out, b)
				dict[w] = b
				w = (w + 1) % len(dict)
			}
			if len(out) > rtfMaxRaw {
				return nil, fmt.Errorf("expands beyond %d bytes: %w", rtfMaxRaw, errRTF)
			}
		}
	}
	return out, nil
}

// rtfFromText renders plain text as an RTF document: the RTF specials
// escaped, line breaks as \par, and every non-ASCII character as \uN with
// a "?" for readers without Unicode (\uc1).
func rtfFromText(text string) []byte {
	var b bytes.Buffer
	b.WriteString("{\\rtf1\\ansi\\ansicpg1252\\deff0\\uc1{\\fonttbl{\\f0\\fswiss Arial;}}\\f0\\fs20 ")
	text = strings.ReplaceAll(text, "\r\n", "\n")
	for _, r := range text {
		switch {
		case r == '\\' || r == '{' || r == '}':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString("\\par\r\n")
		case r == '\t':
			b.WriteString("\\tab ")
		case r < 0x20:
		case r < 0x80:
			b.WriteRune(r)
		default:
			for _, u := range utf16.Encode([]rune{r}) {
				fmt.Fprintf(&b, "\\u%d?", int16(u))
			}
		}
	}
	b.WriteString("}")
	return b.Bytes()
}

// rtfSkipped are destinations whose text is not the document's.
var rtfSkipped = map[string]bool{
	"fonttbl": true, "colortbl": true, "stylesheet": true, "info": true, "pict": true,
	"header": true, "footer": true, "headerl": true, "headerr": true, "footerl": true,
	"footerr": true, "object": true, "listtable": true, "listoverridetable": true,
	"rsidtbl": true, "generator": true, "xmlnstbl": true, "themedata": true,
}

// rtfToText extracts the text of an RTF document: paragraphs and line
// breaks as new lines, \uN and \'hh (Windows-1252) characters decoded,
// font tables, pictures and \* destinations left out. It is what a
// device's RTF draft body is stored as (a text/plain part). Input that is
// not RTF at all is an error.
func rtfToText(rtf []byte) (string, error) {
	if !bytes.HasPrefix(bytes.TrimSpace(rtf), []byte("{\\rtf")) {
		return "", fmt.Errorf("no {\\rtf header: %w", errRTF)
	}
	type group struct {
		skip bool
		uc   int
	}
	stack := []group{{uc: 1}}
	var out strings.Builder
	var pendingHigh uint16
	skipChars := 0 // fallback characters after \uN
	emit := func(s string) {
		if stack[len(stack)-1].skip {
			return
		}
		out.WriteString(s)
	}
	for i := 0; i < len(rtf); {
		c := rtf[i]
		switch c {
		case '{':
			if len(stack) > 1000 {
				return "", fmt.Errorf("nesting too deep: %w", errRTF)
			}
			stack = append(stack, stack[len(stack)-1])
			i++
			continue
		case '}':
			if len(stack) > 1 {
				stack = stack[:len(stack)-1]
			}
			i++
			continue
		case '\r', '\n':
			i++
			continue
		case '\\':
		default:
			if skipChars > 0 {
				skipChars--
			} else {
				emit(string(rune(c)))
			}
			i++
			continue
		}
		// A control word or symbol.
		i++
		if i >= len(rtf) {
			break
		}
		c = rtf[i]
		if !isASCIILetter(c) {
			i++
			switch c {
			case '\\', '{', '}':
				emit(string(rune(c)))
			case '~':
				emit("\u00a0")
			case '*':
				stack[len(stack)-1].skip = true
			case '\'':
				if i+2 <= len(rtf) {
					if n, err := strconv.ParseUint(string(rtf[i:i+2]), 16, 8); err == nil {
						if skipChars > 0 {
							skipChars--
						} else {
							emit(string(cp1252(byte(n))))
						}
					}
					i += 2
				}
			case '\n', '\r':
				emit("\n")
			}
			continue
		}
		start := i
		for i < len(rtf) && isASCIILetter(rtf[i]) {
			i++
		}
		word := string(rtf[start:i])
		numStart := i
		if i < len(rtf) && rtf[i] == '-' {
			i++
		}
		for i < len(rtf) && rtf[i] >= '0' && rtf[i] <= '9' {
			i++
		}
		num, hasNum := 0, i > numStart
		if hasNum {
			num, _ = strconv.Atoi(string(rtf[numStart:i]))
		}
		if i < len(rtf) && rtf[i] == ' ' {
			i++
		}
		skipChars = 0
		switch {
		case rtfSkipped[word]:
			stack[len(stack)-1].skip = true
		case word == "par" || word == "line" || word == "row":
			emit("\n")
		case word == "tab" || word == "cell":
			emit("\t")
		case word == "uc" && hasNum:
			stack[len(stack)-1].uc = num
		case word == "u" && hasNum:
			u := uint16(int16(num))
			switch {
			case utf16.IsSurrogate(rune(u)) && u < 0xdc00:
				pendingHigh = u
			case utf16.IsSurrogate(rune(u)) && pendingHigh != 0:
				emit(string(utf16.DecodeRune(rune(pendingHigh), rune(u))))
				pendingHigh = 0
			default:
				emit(string(rune(u)))
			}
			skipChars = stack[len(stack)-1].uc
		}
	}
	return strings.TrimRight(out.String(), "\n") + "\n", nil
}

func isASCIILetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// cp1252 decodes one Windows-1252 byte (the \'hh escapes of \ansicpg1252,
// the common case): Latin-1, but for the printable characters Windows puts
// in 0x80–0x9F.
func cp1252(b byte) rune {
	if b >= 0x80 && b < 0xa0 {
		if r := cp1252High[b-0x80]; r != 0 {
			return r
		}
		return '\uFFFD'
	}
	return rune(b)
}

var cp1252High = [32]rune{
	'€', 0, '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', 0, 'Ž', 0,
	0, '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', 0, 'ž', 'Ÿ',
}
