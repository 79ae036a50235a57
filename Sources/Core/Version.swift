/// The DiTKit release this source tree is.
public enum DiTKitVersion {
    public static let string = "0.1.0"
}
