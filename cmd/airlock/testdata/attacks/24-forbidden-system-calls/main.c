#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/resource.h>
#include <unistd.h>
#include <linux/keyctl.h>
#define TRY(what, call) do { long r = (call); if (r >= 0) printf("ALLOWED %s\n", what); else printf("blocked %s: %s\n", what, strerror(errno)); } while (0)
int main(void) {
	TRY("unshare(CLONE_NEWUSER)", unshare(CLONE_NEWUSER));
	TRY("unshare(CLONE_NEWNS)", unshare(CLONE_NEWNS));
	TRY("unshare(CLONE_NEWNET)", unshare(CLONE_NEWNET));
	TRY("mount tmpfs", mount("none", "/tmp", "tmpfs", 0, 0));
	TRY("io_uring_setup", syscall(425, 8, (char[120]){0}));
	TRY("socket(AF_VSOCK)", socket(40, SOCK_STREAM, 0));
	TRY("socket(AF_PACKET)", socket(AF_PACKET, SOCK_RAW, 0));
	TRY("socket(AF_INET, SOCK_RAW)", socket(AF_INET, SOCK_RAW, 1));
	TRY("socket(AF_ALG)", socket(38, SOCK_SEQPACKET, 0));
	TRY("keyctl", syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, 0));
	TRY("add_key", syscall(SYS_add_key, "user", "k", "v", 1, KEY_SPEC_PROCESS_KEYRING));
	TRY("bpf", syscall(SYS_bpf, 0, (char[128]){0}, 128));
	TRY("perf_event_open", syscall(SYS_perf_event_open, (char[128]){0}, 0, -1, -1, 0));
	TRY("userfaultfd", syscall(SYS_userfaultfd, 0));
	TRY("kexec_load", syscall(SYS_kexec_load, 0, 0, 0, 0));
	TRY("init_module", syscall(SYS_init_module, 0, 0, ""));
	TRY("swapon", syscall(SYS_swapon, "/tmp/x", 0));
	TRY("syslog", syscall(SYS_syslog, 3, (char[64]){0}, 64));
	TRY("settimeofday", syscall(SYS_settimeofday, 0, 0) == 0 && errno != EFAULT ? 0 : -1);
	TRY("setns", syscall(SYS_setns, 0, 0));
	TRY("chroot", chroot("/tmp"));
	TRY("pivot_root", syscall(SYS_pivot_root, "/tmp", "/tmp"));
	TRY("open_by_handle_at", syscall(SYS_open_by_handle_at, -100, (char[64]){8, 0, 0, 0, 1}, 0));
	TRY("prlimit(init)", prlimit(1, RLIMIT_NOFILE, &(struct rlimit){1, 1}, 0));
	TRY("setpriority(init, -5)", setpriority(PRIO_PROCESS, 1, -5));
	TRY("reboot", syscall(SYS_reboot, 0xfee1dead, 672274793, 0x1234567, 0));
	puts("done");
	return 0;
}
