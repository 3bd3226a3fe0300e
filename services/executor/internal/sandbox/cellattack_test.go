package sandbox_test

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The attack programs of the namespace mode's own tests (cells_test.go):
// what a run may try against its cell and against the runs after it.

// plantedKey is the SysV IPC key, plantedSocket the abstract socket and
// planted the file name a run leaves for the next ones to find.
const (
	plantedKey    = 0x41524c4c
	plantedSocket = "@airlock-planted"
	planted       = "airlock-planted"
)

// escape tries to get out of the run: new namespaces, mounts, the root,
// the cgroup, the kernel's keyring, ptrace, and the files a container's
// masks hide.
func escape() int {
	for _, ns := range []struct {
		name string
		flag int
	}{{"user", unix.CLONE_NEWUSER}, {"mount", unix.CLONE_NEWNS}, {"net", unix.CLONE_NEWNET}, {"pid", unix.CLONE_NEWPID}, {"ipc", unix.CLONE_NEWIPC}, {"uts", unix.CLONE_NEWUTS}, {"cgroup", unix.CLONE_NEWCGROUP}} {
		probe("unshare("+ns.name+")", unix.Unshare(ns.flag))
		pid, _, e := unix.RawSyscall6(unix.SYS_CLONE, uintptr(ns.flag|int(unix.SIGCHLD)), 0, 0, 0, 0, 0)
		if e == 0 && pid == 0 {
			unix.Exit(0) // the child of a clone that worked
		}
		probe("clone("+ns.name+")", errnoErr(e))
	}
	probe("mount tmpfs", unix.Mount("none", "/tmp", "tmpfs", 0, ""))
	probe("umount /proc", unix.Unmount("/proc", unix.MNT_DETACH))
	probe("umount /proc/sys", unix.Unmount("/proc/sys", unix.MNT_DETACH))
	probe("umount /work", unix.Unmount("/work", unix.MNT_DETACH))
	probe("pivot_root", unix.PivotRoot("/tmp", "/tmp"))
	probe("chroot", unix.Chroot("/tmp"))
	if fd, err := unix.Open("/proc/1/ns/mnt", unix.O_RDONLY, 0); err == nil {
		probe("setns(mnt of pid 1)", unix.Setns(fd, unix.CLONE_NEWNS))
		unix.Close(fd)
	}
	_, _, e := unix.Syscall6(unix.SYS_KEYCTL, unix.KEYCTL_JOIN_SESSION_KEYRING, 0, 0, 0, 0, 0)
	probe("keyctl(join session keyring)", errnoErr(e))
	_, _, e = unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_ATTACH, 1, 0, 0, 0, 0)
	probe("ptrace(PTRACE_ATTACH, 1)", errnoErr(e))
	_, _, e = unix.Syscall(unix.SYS_BPF, 0, 0, 0)
	probe("bpf", errnoErr(e))
	_, _, e = unix.Syscall(unix.SYS_IO_URING_SETUP, 1, 0, 0)
	probe("io_uring_setup", errnoErr(e))
	// Leave the run's cgroup: wherever a cgroup file system shows.
	cgs, _ := filepath.Glob("/sys/fs/cgroup/*/cgroup.procs")
	cgs2, _ := filepath.Glob("/sys/fs/cgroup/cgroup.procs")
	for _, f := range append(cgs, cgs2...) {
		probe("write "+f, os.WriteFile(f, []byte(strconv.Itoa(os.Getpid())), 0))
	}
	// The cell's own file system and the kernel's knobs.
	for _, f := range []string{"/" + planted, "/etc/" + planted, "/usr/" + planted, "/.airlock/" + planted} {
		probe("create "+f, os.WriteFile(f, []byte("x"), 0o644))
	}
	for _, f := range []string{"/proc/sys/kernel/hostname", "/proc/sys/vm/drop_caches", "/proc/sysrq-trigger"} {
		probe("write "+f, os.WriteFile(f, []byte("1"), 0))
	}
	// Masked: absent, or empty.
	for _, f := range []string{"/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug", "/proc/acpi", "/sys/firmware"} {
		var err error
		if st, serr := os.Stat(f); serr != nil {
			err = serr
		} else if st.IsDir() {
			if ents, _ := os.ReadDir(f); len(ents) == 0 {
				err = errors.New("empty")
			}
		} else if b, _ := os.ReadFile(f); len(b) == 0 {
			err = errors.New("empty")
		}
		probe("read "+f, err)
	}
	return 0
}

// plant leaves what it can for the runs after it: a daemon in a session of
// its own that holds an abstract socket and a SysV shared memory segment,
// and files wherever it may write.
func plant() int {
	self, _ := os.Executable()
	p, err := os.StartProcess(self, []string{self, attackArg, "daemon"}, &os.ProcAttr{
		Files: []*os.File{nil, nil, nil},
		Sys:   &syscall.SysProcAttr{Setsid: true},
	})
	if err != nil {
		fmt.Println("daemon:", err)
		return 1
	}
	_ = p.Release()
	for _, dir := range []string{"/tmp", "/dev/shm", "/work", "/var/tmp"} {
		err := os.WriteFile(filepath.Join(dir, planted), []byte("x"), 0o644)
		fmt.Println("plant", dir, err)
	}
	time.Sleep(300 * time.Millisecond) // the daemon takes its socket and segment
	fmt.Println("planted")
	return 0
}

// daemon holds the abstract socket and the segment until it is killed.
func daemon() int {
	l, err := net.Listen("unix", plantedSocket)
	if err == nil {
		defer l.Close()
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				_, _ = c.Write([]byte("hello from an earlier run\n"))
				c.Close()
			}
		}()
	}
	_, _ = unix.SysvShmGet(plantedKey, 4096, unix.IPC_CREAT|0o666)
	for {
		time.Sleep(time.Second)
	}
}

// seek looks for what an earlier run planted, and for any process but its
// own and its run's first one.
func seek() int {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == 1 || pid == os.Getpid() {
			continue
		}
		comm, _ := os.ReadFile("/proc/" + e.Name() + "/comm")
		probe(fmt.Sprintf("see process %d (%s)", pid, strings.TrimSpace(string(comm))), nil)
	}
	c, err := net.Dial("unix", plantedSocket)
	if err == nil {
		c.Close()
	}
	probe("connect "+plantedSocket, err)
	_, err = unix.SysvShmGet(plantedKey, 0, 0)
	probe("find the planted SysV segment", err)
	for _, dir := range []string{"/tmp", "/dev/shm", "/work", "/var/tmp"} {
		_, err := os.Stat(filepath.Join(dir, planted))
		probe("find "+filepath.Join(dir, planted), err)
	}
	// Signal whatever could be there.
	probe("kill(-1, SIGKILL) reaches someone", unix.Kill(-1, 0))
	return 0
}
