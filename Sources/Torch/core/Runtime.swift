import CTorch

/// Facts about the libtorch this process runs on, and process-wide settings.
public enum Runtime {
    public static var torchVersion: String { String(cString: ct_torch_version()) }
    public static var cudaAvailable: Bool { ct_cuda_available() }
    /// Whether this process runs a CUDA build of torch (libtorch_cuda loaded), whether or not a GPU is visible.
    public static var cudaBuilt: Bool { ct_cuda_built() }
    public static var cudaDeviceCount: Int { Int(ct_cuda_device_count()) }
    /// Devices usable now: the CPU and each CUDA device.
    public static var devices: [Device] { [.cpu] + (0..<cudaDeviceCount).map { .cuda($0) } }
    /// Intra-op threads (torch.get_num_threads / set_num_threads).
    public static var threads: Int {
        get { Int(ct_get_num_threads()) }
        set { ct_set_num_threads(Int32(max(1, newValue))) }
    }
    /// Whether freed CPU blocks of 64 KiB and more are kept for reuse (DiTKit's caching CPU allocator; on by
    /// default, off with DITKIT_CPU_CACHING=0). It saves the page faults of re-mapping a training step's
    /// working set every step.
    public static var cpuCachingEnabled: Bool {
        get { ct_cpu_caching_enabled() }
        set { ct_cpu_caching_set_enabled(newValue) }
    }
    /// Bytes the CPU allocator holds for reuse.
    public static var cpuCachedBytes: Int { Int(ct_cpu_cache_bytes()) }
    /// Returns the cached CPU blocks to the system.
    public static func emptyCPUCache() { ct_cpu_cache_empty() }
    /// Tensor memory on `device`: bytes live now, the most live at once and (CUDA) the most the caching allocator
    /// held from the driver, since the last `resetPeakMemory`. On the CPU it counts DiTKit's allocator, which
    /// every CPU tensor goes through.
    public static func memory(on device: Device) throws -> (allocated: Int, peakAllocated: Int, peakReserved: Int) {
        switch device {
        case .cpu:
            let peak = Int(ct_cpu_peak_allocated_bytes())
            return (Int(ct_cpu_allocated_bytes()), peak, peak)
        case .cuda(let index):
            var now: Int64 = 0, peak: Int64 = 0, reserved: Int64 = 0
            try check(ct_cuda_memory_stats(Int32(index), &now, &peak, &reserved))
            return (Int(now), Int(peak), Int(reserved))
        case .meta:
            return (0, 0, 0)  // meta tensors hold no memory
        }
    }

    /// Starts a new peak at what is live now.
    /// Waits until `device` has finished the work queued so far (for clocks; a training step never calls it). A read
    /// of one value is such a wait on CUDA; the CPU runs everything as it is called.
    public static func synchronize(_ device: Device) throws {
        if case .cuda = device { _ = try Tensor.zeros([], device: device).item() }
    }

    public static func resetPeakMemory(on device: Device) throws {
        switch device {
        case .cpu: ct_cpu_reset_peak()
        case .cuda(let index): try check(ct_cuda_reset_peak(Int32(index)))
        case .meta: break
        }
    }

    /// Makes standard output line-buffered, so progress printed to a file or pipe shows up line by line.
    public static func lineBufferedOutput() { ct_line_buffered_stdout() }
    /// Tensor handles alive right now; a loop that returns to its starting count leaks nothing.
    public static var liveTensorCount: Int { Int(ct_live_tensors()) }
}
