package policies

import (
	"regexp"
	"strconv"
	"strings"
)

// UAInfo is what [ParseUserAgent] could read from an EAS User-Agent header.
// Empty fields mean "not derivable from this User-Agent".
type UAInfo struct {
	// Platform is the device platform: "iOS", "Android", "Windows Mobile",
	// "Windows Phone", "Symbian", "BlackBerry 10", "BlackBerry OS", or ""
	// when unknown.
	Platform string
	// Client names the mail client when it is not the platform's own:
	// "TouchDown", "AstraSync", "NotifySync", "Mail for Exchange",
	// "Samsung Email". Empty for the platform's native client or unknown.
	Client string
	// ClientVersion is the client's own version where the User-Agent gives
	// one separately from the OS version ("7.1.0005" for TouchDown, "2.02"
	// for Mail for Exchange).
	ClientVersion string
	// Model is the hardware model in canonical form ("iPhone2,1",
	// "GT-I9000", "E721", "Q10-SQN100-3").
	Model string
	// OS is an OS description in the form devices use in
	// Settings/DeviceInformation ("iOS 4.3.3", "Android 2.3.4",
	// "Windows Phone 7.0.7004", "BlackBerry 10.2.0.1443").
	OS string
	// OSApprox is set when OS was inferred from a build number this package
	// does not know exactly; only the major version is then reliable.
	OSApprox bool
}

// ParseUserAgent reads platform, client, model and OS version from an EAS
// User-Agent, for the families this package knows. See DEVICES.md for the
// strings and their sources. Unknown formats give a zero UAInfo.
//
// Formats recognised:
//
//	Apple-iPhone2C1/801.293            iOS 4.x–9.x: model and build (8A293 = iOS 4.0)
//	Apple-iPhone/705.18                iPhone OS 2.x–3.x: build only, no model
//	iOS/7.0.2 (11A501) dataaccessd/1.0 iOS 7+: OS version, no model
//	Android/2.3.4-EAS-1.2              AOSP Email/Exchange: OS version
//	SAMSUNG-GT-I9000/100.20304         Samsung Email: model, coded OS version
//	TouchDown(MSRPC)/7.1.0005          NitroDesk TouchDown (Android)
//	MSFT-PPC/5.2.5082, MSFT-SPhone/…   Windows Mobile (OS version not in UA)
//	MSFT-WP/7.0.7004                   Windows Phone: OS version
//	NokiaE721/2.02(0)MailforExchange   Nokia Mail for Exchange: model
//	RIM-Q10-SQN100-3/10.2.0.1443       BlackBerry 10 native: model, OS
func ParseUserAgent(ua string) UAInfo {
	ua = strings.TrimSpace(ua)
	if ua == "" {
		return UAInfo{}
	}
	lower := strings.ToLower(ua)
	switch {
	case strings.HasPrefix(ua, "Apple-"):
		return parseAppleUA(ua)
	case strings.HasPrefix(ua, "iOS/"):
		return parseIOS7UA(ua)
	case strings.HasPrefix(lower, "touchdown"):
		info := UAInfo{Platform: "Android", Client: "TouchDown"}
		if i := strings.IndexByte(ua, '/'); i >= 0 {
			info.ClientVersion = strings.Trim(ua[i+1:], "/ ")
		}
		return info
	case strings.Contains(lower, "astrasync"):
		return UAInfo{Platform: "BlackBerry OS", Client: "AstraSync", ClientVersion: versionAfterSlash(ua)}
	case strings.Contains(lower, "notifysync"):
		return UAInfo{Platform: "BlackBerry OS", Client: "NotifySync", ClientVersion: versionAfterSlash(ua)}
	case strings.HasPrefix(ua, "MSFT-WP/"):
		info := UAInfo{Platform: "Windows Phone"}
		if v := VersionString(ua[len("MSFT-WP/"):]); v != "" {
			info.OS = "Windows Phone " + v
		}
		return info
	case strings.HasPrefix(ua, "MSFT-PPC/"), strings.HasPrefix(ua, "MSFT-SPhone/"),
		strings.HasPrefix(ua, "Microsoft-PocketPC/"):
		// The number after the slash is the EAS client build, not the
		// Windows CE build, so the OS version is not derivable.
		return UAInfo{Platform: "Windows Mobile"}
	case strings.HasPrefix(ua, "Nokia"):
		return parseNokiaUA(ua)
	case strings.HasPrefix(ua, "RIM-"):
		return parseRIMUA(ua)
	case strings.HasPrefix(ua, "BlackBerry"):
		return UAInfo{Platform: "BlackBerry OS"}
	case strings.HasPrefix(ua, "SAMSUNG"):
		return parseSamsungUA(ua)
	}
	if m := easSuffixRE.FindStringSubmatch(ua); m != nil {
		// "Android/2.3.4-EAS-1.2" and OEM forks of the AOSP client such as
		// "SAMSUNGSCHI405/2.3.5-EAS-1.2".
		info := UAInfo{Platform: "Android", ClientVersion: "EAS-" + m[3]}
		if v := VersionString(m[2]); v != "" {
			info.OS = "Android " + v
		}
		if m[1] != "Android" {
			info.Model = m[1]
		}
		return info
	}
	if strings.HasPrefix(ua, "Android") {
		// "Android/0.3", "Android-EAS/4.0.21…": a client version, not the OS.
		return UAInfo{Platform: "Android"}
	}
	return UAInfo{}
}

// easSuffixRE matches the AOSP Exchange client's "<name>/<release>-EAS-<n>".
var easSuffixRE = regexp.MustCompile(`^([^/\s]+)/([^/]*?)-EAS-([0-9.]+)`)

func versionAfterSlash(ua string) string {
	i := strings.IndexByte(ua, '/')
	if i < 0 {
		return ""
	}
	return VersionString(ua[i+1:])
}

// appleUARE matches "Apple-iPhone2C1/801.293" and "Apple-iPhone/705.18".
var appleUARE = regexp.MustCompile(`^Apple-(iPhone|iPad|iPod)(?:(\d+)C(\d+))?/(\d+)\.(\d+)$`)

func parseAppleUA(ua string) UAInfo {
	m := appleUARE.FindStringSubmatch(ua)
	if m == nil {
		return UAInfo{Platform: "iOS"}
	}
	info := UAInfo{Platform: "iOS"}
	if m[2] != "" {
		info.Model = m[1] + m[2] + "," + m[3]
	}
	build := m[4] + "." + m[5]
	if v, ok := iosBuildVersions[build]; ok {
		info.OS = "iOS " + v
		return info
	}
	// The part before the dot is the build's major number and the letter
	// index (801 = 8A, 705 = 7E); iOS major = build major - 4 from 7 on.
	head, err := strconv.Atoi(m[4])
	if err != nil || len(m[4]) < 3 {
		return info
	}
	major := head / 100
	switch {
	case major >= 7 && major <= 13:
		info.OS = "iOS " + strconv.Itoa(major-4)
		info.OSApprox = true
	case major == 5:
		info.OS = "iOS 2"
		info.OSApprox = true
	}
	return info
}

// iosBuildVersions maps the "<build>" part of "Apple-<model>/<build>" to the
// iOS version. Build 801.293 is 8A293, iOS 4.0. Collected from
// horde/ActiveSync lib/Horde/ActiveSync/Device/Ios.php and
// dseph/EAS-Inspector-For-Fiddler EasInspector/InspectorUtilities.cs.
var iosBuildVersions = map[string]string{
	"508.11":  "2.2.1",
	"701.341": "3.0", "701.400": "3.0.1",
	"703.144": "3.1", "703.146": "3.1", "704.11": "3.1.2", "705.18": "3.1.3",
	"702.367": "3.2", "702.405": "3.2.1", "702.500": "3.2.2",
	"801.293": "4.0", "801.306": "4.0.1", "801.400": "4.0.2",
	"802.117": "4.1", "802.118": "4.1",
	"803.148": "4.2.1", "803.14800001": "4.2.1",
	"805.128": "4.2.5", "805.200": "4.2.6", "805.303": "4.2.7", "805.401": "4.2.8",
	"805.501": "4.2.9", "805.600": "4.2.10",
	"806.190": "4.3", "806.191": "4.3", "807.4": "4.3.1", "808.7": "4.3.2", "808.8": "4.3.2",
	"810.2": "4.3.3", "810.3": "4.3.3", "811.2": "4.3.4", "812.1": "4.3.5",
	"901.334": "5.0", "901.405": "5.0.1", "901.406": "5.0.1",
	"902.176": "5.1", "902.179": "5.1", "902.206": "5.1.1", "902.208": "5.1.1",
	"1001.403": "6.0", "1001.405": "6.0", "1001.406": "6.0", "1001.407": "6.0",
	"1001.523": "6.0", "1001.525": "6.0", "1001.550": "6.0", "1001.551": "6.0",
	"1002.141": "6.1", "1002.142": "6.1", "1002.143": "6.1", "1002.144": "6.1",
	"1002.145": "6.1.1", "1002.146": "6.1.2", "1002.329": "6.1.3", "1002.350": "6.1.4",
	"1101.465": "7.0", "1101.470": "7.0.1", "1101.47000001": "7.0.1", "1101.501": "7.0.2",
	"1102.511": "7.0.3", "1102.55400001": "7.0.4", "1102.601": "7.0.5", "1102.651": "7.0.6",
	"1104.167": "7.1", "1104.169": "7.1", "1104.201": "7.1.1", "1104.257": "7.1.2",
	"1201.365": "8.0", "1201.366": "8.0.1", "1201.405": "8.0.2",
	"1202.410": "8.1", "1202.411": "8.1", "1202.435": "8.1.1", "1202.440": "8.1.2",
	"1202.466": "8.1.3", "1204.508": "8.2", "1205.69": "8.3", "1205.70": "8.3",
	"1208.143": "8.4", "1208.321": "8.4.1",
}

// iOS7UARE matches "iOS/7.0.2 (11A501) dataaccessd/1.0".
var iOS7UARE = regexp.MustCompile(`^iOS/([0-9][0-9.]*)`)

func parseIOS7UA(ua string) UAInfo {
	info := UAInfo{Platform: "iOS"}
	if m := iOS7UARE.FindStringSubmatch(ua); m != nil {
		info.OS = "iOS " + strings.TrimRight(m[1], ".")
	}
	return info
}

// nokiaUARE matches Mail for Exchange: "NokiaE721/2.02(0)MailforExchange".
var nokiaUARE = regexp.MustCompile(`^Nokia([A-Za-z0-9-]+)/([0-9.]+)`)

func parseNokiaUA(ua string) UAInfo {
	info := UAInfo{Platform: "Symbian"}
	if strings.Contains(ua, "MailforExchange") {
		info.Client = "Mail for Exchange"
	}
	if m := nokiaUARE.FindStringSubmatch(ua); m != nil {
		info.Model = m[1]
		info.ClientVersion = m[2]
	}
	return info
}

// rimUARE matches BlackBerry 10: "RIM-Q10-SQN100-3/10.2.0.1443".
var rimUARE = regexp.MustCompile(`^RIM-([^/]+)/([0-9][0-9.]*)`)

func parseRIMUA(ua string) UAInfo {
	m := rimUARE.FindStringSubmatch(ua)
	if m == nil {
		return UAInfo{}
	}
	info := UAInfo{Model: m[1]}
	if CompareVersions(m[2], "10") >= 0 {
		info.Platform = "BlackBerry 10"
		info.OS = "BlackBerry " + strings.TrimRight(m[2], ".")
	} else {
		// "RIM-Playbook/2.0": BlackBerry Tablet OS.
		info.Platform = "BlackBerry Tablet OS"
		info.OS = "BlackBerry Tablet OS " + strings.TrimRight(m[2], ".")
	}
	return info
}

// samsungUARE matches Samsung's own Email client:
// "SAMSUNG-GT-I9000/100.20304", "SAMSUNG-SAMSUNG-SGH-I997/100.202".
var samsungUARE = regexp.MustCompile(`^SAMSUNG-(?:SAMSUNG-)?([^/]+)/10[0-9]\.([0-9]+)$`)

func parseSamsungUA(ua string) UAInfo {
	if m := easSuffixRE.FindStringSubmatch(ua); m != nil {
		// "SAMSUNGSCHI405/2.3.5-EAS-1.2": an AOSP-based client.
		info := UAInfo{Platform: "Android", Client: "Samsung Email", ClientVersion: "EAS-" + m[3]}
		if v := VersionString(m[2]); v != "" {
			info.OS = "Android " + v
		}
		info.Model = strings.TrimPrefix(m[1], "SAMSUNG")
		return info
	}
	info := UAInfo{Platform: "Android", Client: "Samsung Email"}
	m := samsungUARE.FindStringSubmatch(ua)
	if m == nil {
		return info
	}
	info.Model = m[1]
	if v := decodeSamsungVersion(m[2]); v != "" {
		info.OS = "Android " + v
	}
	return info
}

// decodeSamsungVersion turns the digits after "100." into an Android
// version: the first digit is the major version and each following pair one
// more component ("20304" = 2.3.4, "202" = 2.2, "40102" = 4.1.2). This
// reading fits every sample collected (see DEVICES.md) but is not documented
// by Samsung; odd lengths that do not fit give "".
func decodeSamsungVersion(d string) string {
	if len(d) < 3 || len(d)%2 == 0 {
		return ""
	}
	parts := []string{d[:1]}
	for i := 1; i+2 <= len(d); i += 2 {
		n, err := strconv.Atoi(d[i : i+2])
		if err != nil {
			return ""
		}
		parts = append(parts, strconv.Itoa(n))
	}
	return strings.Join(parts, ".")
}

// appleModelRE matches Apple hardware identifiers in either the canonical
// form "iPhone2,1" or the form EAS clients send ("iPhone2C1", "iPhone2_1").
var appleModelRE = regexp.MustCompile(`^(?i)(iPhone|iPad|iPod)(\d+)[,C_](\d+)$`)

// NormalizeModel returns the canonical form of a model string: Apple
// identifiers become "iPhone2,1" whichever separator the device used
// ("iPhone2C1" in Settings/DeviceInformation and User-Agents); other models
// are returned trimmed but otherwise unchanged.
func NormalizeModel(model string) string {
	model = strings.TrimSpace(model)
	m := appleModelRE.FindStringSubmatch(model)
	if m == nil {
		return model
	}
	family := m[1]
	switch strings.ToLower(family) {
	case "iphone":
		family = "iPhone"
	case "ipad":
		family = "iPad"
	case "ipod":
		family = "iPod"
	}
	return family + m[2] + "," + m[3]
}
