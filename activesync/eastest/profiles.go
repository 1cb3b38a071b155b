package eastest

// Device families as they present themselves, from public captures and
// vendor documentation (see policies/DEVICES.md for the sources).
var (
	// IPhone3GS: iOS 4 speaks EAS 12.1 and sends DeviceInformation in
	// Settings.
	IPhone3GS = Profile{Name: "iPhone3GS", DeviceType: "iPhone", UserAgent: "Apple-iPhone2C1/810.2", Version: "12.1",
		Model: "iPhone2,1", OS: "iOS 4.3.3 8J2", OSLanguage: "en-GB", FriendlyName: "Ann's iPhone"}
	// IPhone3G cannot encrypt: refused whatever it acknowledges.
	IPhone3G = Profile{Name: "iPhone3G", DeviceType: "iPhone", UserAgent: "Apple-iPhone1C2/803.148", Version: "12.1",
		Model: "iPhone1,2", OS: "iPhone OS 3.1.3 7E18", OSLanguage: "en-GB"}
	// IPhone14 is a current iPhone on EAS 16.1.
	IPhone14 = Profile{Name: "iPhone14", DeviceType: "iPhone", UserAgent: "Apple-iPhone14C7/2104.100", Version: "16.1",
		Model: "iPhone14,7", OS: "iOS 17.4 21E219", OSLanguage: "en-GB", FriendlyName: "Work iPhone"}
	// NokiaE72 runs Mail for Exchange, EAS 12.1.
	NokiaE72 = Profile{Name: "NokiaE72", DeviceType: "NokiaEmail", UserAgent: "NokiaE721/2.02(0)MailforExchange 3gpp-gba", Version: "12.1",
		Model: "E72-1", OS: "S60 3.2"}
	// WindowsPhone7 speaks EAS 14.0 and cannot encrypt.
	WindowsPhone7 = Profile{Name: "WP7", DeviceType: "WP", UserAgent: "MSFT-WP/7.0.7004", Version: "14.0",
		Model: "HD7 T9292", OS: "Windows Phone 7.0.7004"}
	// WindowsMobile65 uses the base64-encoded request line.
	WindowsMobile65 = Profile{Name: "WM65", DeviceType: "PocketPC", UserAgent: "MSFT-PPC/5.2.5082", Version: "12.1",
		Model: "HTC HD2", OS: "Windows CE 5.2.21869", Base64Query: true}
	// Android23 is Android 2.3's own Email app: no encryption at rest.
	Android23 = Profile{Name: "Android23", DeviceType: "Android", UserAgent: "Android/2.3.4-EAS-1.2", Version: "12.1",
		Model: "Nexus S", OS: "Android 2.3.4"}
	// TouchDown23 is NitroDesk TouchDown on the same Android 2.3 phone; it
	// encrypts its own store.
	TouchDown23 = Profile{Name: "TouchDown", DeviceType: "Android", UserAgent: "TouchDown(MSRPC)/7.1.0005", Version: "12.1",
		Model: "Nexus S", OS: "Android 2.3.4"}
	// Android4 is Android 4's own mail app, EAS 14.1.
	Android4 = Profile{Name: "Android4", DeviceType: "Android", UserAgent: "Android/4.0.4-EAS-1.3", Version: "14.1",
		Model: "GT-I9300", OS: "Android 4.0.4", OSLanguage: "en-GB", IMEI: "356938035643809", MobileOperator: "EE"}
	// Unknown is a device no rule knows: the organisation default applies.
	Unknown = Profile{Name: "Unknown", DeviceType: "FancyPhone", UserAgent: "FancyMail/1.0", Version: "14.1",
		Model: "Fancy 1", OS: "FancyOS 1.0"}
)
