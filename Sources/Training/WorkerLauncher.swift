import Foundation
import Synchronization

/// `dit launch`: starts this machine's workers of a multi-process run, each with the variables torchrun would give it
/// (RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT), passes Ctrl-C and SIGTERM on to them,
/// and when one worker fails stops the others (SIGTERM, then SIGKILL after `stopTimeout`), naming the failed rank.
public struct WorkerLauncher {
    public var nprocPerNode: Int
    public var nnodes = 1
    public var nodeRank = 0
    public var masterAddress = "127.0.0.1"
    /// nil: a free port of this machine (single-machine runs only).
    public var masterPort: Int?
    /// Seconds the other workers get to exit after a failure or a forwarded signal before they are killed.
    public var stopTimeout = 30.0

    public init(nprocPerNode: Int) { self.nprocPerNode = nprocPerNode }

    /// What happened to one worker.
    public struct Exit: Sendable, CustomStringConvertible {
        public let rank: Int
        public let pid: pid_t
        public let status: Int32
        public let signal: Int32?
        public var failed: Bool { signal != nil || status != 0 }
        public var description: String {
            if let signal { return "rank \(rank) (pid \(pid)) was killed by signal \(signal)" + (signal == SIGKILL ? " (SIGKILL)" : "") }
            return "rank \(rank) (pid \(pid)) exited with status \(status)"
        }
    }

    public struct LaunchError: Error, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    static let forwarded = Atomic<Int32>(0)

    /// Runs `executable arguments` as this node's workers and returns when all have exited: the exit status the
    /// launcher should end with (0 when every worker succeeded, the first failed worker's status otherwise).
    public func run(executable: String, arguments: [String], report: (String) -> Void) throws -> Int32 {
        guard nprocPerNode >= 1, nnodes >= 1, (0..<nnodes).contains(nodeRank) else {
            throw LaunchError(message: "--nproc-per-node and --nnodes must be at least 1 and --node-rank in 0..<nnodes")
        }
        guard stopTimeout > 0 else { throw LaunchError(message: "--stop-timeout must be positive") }
        let port: Int
        if let masterPort {
            port = masterPort
        } else {
            guard nnodes == 1 else { throw LaunchError(message: "a run over several machines needs --master-port (the same on all)") }
            port = try Self.freePort()
        }
        let world = nprocPerNode * nnodes
        var base = ProcessInfo.processInfo.environment
        base["WORLD_SIZE"] = String(world)
        base["LOCAL_WORLD_SIZE"] = String(nprocPerNode)
        base["GROUP_RANK"] = String(nodeRank)
        base["MASTER_ADDR"] = masterAddress
        base["MASTER_PORT"] = String(port)
        // Like torchrun: workers share the cores instead of each taking all of them.
        if base["OMP_NUM_THREADS"] == nil && nprocPerNode > 1 {
            base["OMP_NUM_THREADS"] = String(max(1, ProcessInfo.processInfo.activeProcessorCount / nprocPerNode))
        }

        Self.forwarded.store(0, ordering: .relaxed)
        var previous: [Int32: sigaction] = [:]
        for s in [SIGINT, SIGTERM] {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { Self.forwarded.store($0, ordering: .relaxed) }
            action.sa_flags = 0  // no SA_RESTART: waitpid returns EINTR so the signal is passed on at once
            var old = sigaction()
            sigaction(s, &action, &old)
            previous[s] = old
        }
        defer { for (s, old) in previous { var o = old; sigaction(s, &o, nil) } }

        var pids: [pid_t: Int] = [:]  // pid -> rank
        for local in 0..<nprocPerNode {
            let rank = nodeRank * nprocPerNode + local
            var env = base
            env["RANK"] = String(rank)
            env["LOCAL_RANK"] = String(local)
            do {
                pids[try Self.spawn(executable, arguments, env)] = rank
            } catch {
                for pid in pids.keys { kill(pid, SIGKILL) }
                _ = Self.reap(Array(pids.keys), until: Date() + stopTimeout)
                throw error
            }
        }

        var exits: [Exit] = []
        var stopping: Date?  // when the survivors were asked to stop
        var firstFailure: Exit?
        while exits.count < pids.count {
            let signal = Self.forwarded.exchange(0, ordering: .relaxed)
            if signal != 0 {
                report("dit launch: passing signal \(signal) to the workers")
                for (pid, _) in pids where !exits.contains(where: { $0.pid == pid }) { kill(pid, signal) }
                stopping = stopping ?? Date()
            }
            if let since = stopping, Date().timeIntervalSince(since) > stopTimeout {
                for (pid, _) in pids where !exits.contains(where: { $0.pid == pid }) { kill(pid, SIGKILL) }
            }
            var status: Int32 = 0
            let pid = stopping == nil ? waitpid(-1, &status, 0) : waitpid(-1, &status, WNOHANG)
            if pid == 0 || (pid < 0 && errno == EINTR) {
                if pid == 0 { usleep(50_000) }
                continue
            }
            if pid < 0 { break }  // no children left (ECHILD)
            guard let rank = pids[pid] else { continue }
            let exit = Self.exit(rank: rank, pid: pid, status: status)
            exits.append(exit)
            if exit.failed && firstFailure == nil && stopping == nil {
                firstFailure = exit
                report("dit launch: \(exit); stopping the other workers")
                for (other, _) in pids where !exits.contains(where: { $0.pid == other }) { kill(other, SIGTERM) }
                stopping = Date()
            }
        }
        if let firstFailure {
            let others = exits.filter { $0.failed && $0.pid != firstFailure.pid }.map(\.description)
            report("dit launch: the run failed: \(firstFailure)"
                + (others.isEmpty ? "" : "; then " + others.joined(separator: ", ")))
            return firstFailure.signal.map { 128 + $0 } ?? firstFailure.status
        }
        return exits.first(where: \.failed).map { $0.signal.map { 128 + $0 } ?? $0.status } ?? 0
    }

    static func exit(rank: Int, pid: pid_t, status: Int32) -> Exit {
        let signal = status & 0x7f
        if signal != 0 { return Exit(rank: rank, pid: pid, status: 0, signal: signal) }
        return Exit(rank: rank, pid: pid, status: (status >> 8) & 0xff, signal: nil)
    }

    static func reap(_ pids: [pid_t], until deadline: Date) -> Int {
        var left = Set(pids)
        while !left.isEmpty && Date() < deadline {
            for pid in left {
                var status: Int32 = 0
                if waitpid(pid, &status, WNOHANG) == pid { left.remove(pid) }
            }
            usleep(20_000)
        }
        return left.count
    }

    static func spawn(_ executable: String, _ arguments: [String], _ environment: [String: String]) throws -> pid_t {
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, executable, nil, nil, argv, envp)
        guard rc == 0 else {
            throw LaunchError(message: "could not start \(executable): \(String(cString: strerror(rc)))")
        }
        return pid
    }

    /// A TCP port nobody listens on now (the kernel's choice), for a single machine's rendezvous.
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw LaunchError(message: "no socket for finding a free port: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { p -> Bool in
                bind(fd, p, length) == 0 && getsockname(fd, p, &length) == 0
            }
        }
        guard bound else { throw LaunchError(message: "could not find a free port: \(String(cString: strerror(errno)))") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
