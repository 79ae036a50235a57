import CTorch

/// Facts about the libtorch this process runs on, and process-wide settings.
public enum Runtime {
    public static var torchVersion: String { String(cString: ct_torch_version()) }
    public static var cudaAvailable: Bool { ct_cuda_available() }
    public static var cudaDeviceCount: Int { Int(ct_cuda_device_count()) }
    /// Devices usable now: the CPU and each CUDA device.
    public static var devices: [Device] { [.cpu] + (0..<cudaDeviceCount).map { .cuda($0) } }
    /// Intra-op threads (torch.get_num_threads / set_num_threads).
    public static var threads: Int {
        get { Int(ct_get_num_threads()) }
        set { ct_set_num_threads(Int32(max(1, newValue))) }
    }
    /// Tensor handles alive right now; a loop that returns to its starting count leaks nothing.
    public static var liveTensorCount: Int { Int(ct_live_tensors()) }
}
