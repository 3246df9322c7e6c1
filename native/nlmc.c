// Netlink sockets read in batches, for the events reader (src/netlink/multicast.ts) and the flow
// walk's dumps (src/netlink/polled.ts), as a Node-API addon: open a socket on one netlink
// protocol, join groups, size its receive buffer (SO_RCVBUFFORCE when the process may, else
// SO_RCVBUF), send a request to the kernel, and read every queued datagram in one call with
// recvmmsg(2) into fixed slots of a caller's buffer. Nothing polls here: the caller
// reads on its own schedule, so a burst costs one system call per batch instead of a wakeup and a
// JavaScript callback per event, and an overrun (ENOBUFS) is a return value, never an abort.
// References: netlink(7), recvmmsg(2), socket(7) (SO_RCVBUFFORCE); net/netlink/af_netlink.c.

#define _GNU_SOURCE
#include <errno.h>
#include <linux/netlink.h>
#include <malloc.h>
#include <node_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

#define MAX_BATCH 1024

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char message[160];
  const char *name = strerrorname_np(err);
  snprintf(message, sizeof message, "%s: %s", what, strerror(err));
  napi_throw_error(env, name ? name : "EUNKNOWN", message);
  return NULL;
}

static int32_t int_arg(napi_env env, napi_value v, int *ok) {
  int32_t out = 0;
  if (napi_get_value_int32(env, v, &out) != napi_ok) *ok = 0;
  return out;
}

static napi_value set_int(napi_env env, napi_value obj, const char *key, int64_t value) {
  napi_value v;
  napi_create_int64(env, value, &v);
  napi_set_named_property(env, obj, key, v);
  return obj;
}

// A typed array argument of the given type: its data and length, or ok = 0.
static void *array_arg(napi_env env, napi_value v, napi_typedarray_type want, size_t *n, int *ok) {
  napi_typedarray_type t;
  void *data = NULL;
  if (!*ok || napi_get_typedarray_info(env, v, &t, n, &data, NULL, NULL) != napi_ok || t != want) *ok = 0;
  return data;
}

// The arguments of a call: argc of them, the first an fd (int32), or ok = 0.
static int fd_args(napi_env env, napi_callback_info info, size_t argc, napi_value *argv, int *ok) {
  size_t got = argc;
  napi_get_cb_info(env, info, &got, argv, NULL, NULL);
  *ok = got == argc;
  return *ok ? int_arg(env, argv[0], ok) : -1;
}

// open(protocol, groups: number[], receiveBufferBytes) -> { fd, receiveBufferBytes, forced }
static napi_value nl_open(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int ok = argc == 3;
  int protocol = ok ? int_arg(env, argv[0], &ok) : 0;
  int rcvbuf = ok ? int_arg(env, argv[2], &ok) : 0;
  uint32_t ngroups = 0;
  bool is_array = false;
  if (ok) napi_is_array(env, argv[1], &is_array);
  if (!ok || !is_array) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "open(protocol, groups[], receiveBufferBytes)");
    return NULL;
  }
  napi_get_array_length(env, argv[1], &ngroups);

  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
  if (fd < 0) return throw_errno(env, "socket(AF_NETLINK)", errno);

  // Beyond net.core.rmem_max only with CAP_NET_ADMIN; without it the capped request stands.
  int forced = setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) == 0;
  if (!forced && setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf) != 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, "setsockopt(SO_RCVBUF)", err);
  }

  struct sockaddr_nl addr;
  memset(&addr, 0, sizeof addr);
  addr.nl_family = AF_NETLINK;  // nl_pid 0: the kernel assigns the port
  if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, "bind(AF_NETLINK)", err);
  }
  for (uint32_t i = 0; i < ngroups; i++) {
    napi_value g;
    napi_get_element(env, argv[1], i, &g);
    int group = int_arg(env, g, &ok);
    if (!ok || setsockopt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &group, sizeof group) != 0) {
      int err = ok ? errno : EINVAL;
      close(fd);
      return throw_errno(env, "setsockopt(NETLINK_ADD_MEMBERSHIP)", err);
    }
  }

  int granted = 0;
  socklen_t len = sizeof granted;
  getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &granted, &len);
  napi_value out, b;
  napi_create_object(env, &out);
  set_int(env, out, "fd", fd);
  set_int(env, out, "receiveBufferBytes", granted);
  napi_get_boolean(env, forced, &b);
  napi_set_named_property(env, out, "forced", b);
  return out;
}

// read(fd, buffer: Uint8Array, lengths: Int32Array) -> count | -errno
// Datagram i lands at buffer[i * slot], slot = buffer.length / lengths.length; lengths[i] is its
// length, or -(its real length) when it did not fit its slot (truncated). Returns the number of
// datagrams (0: nothing queued), or -ENOBUFS after an overrun (the queue is intact; read again).
static napi_value nl_read(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int ok;
  int fd = fd_args(env, info, 3, argv, &ok);
  size_t n1 = 0, n2 = 0;
  void *data = array_arg(env, argv[1], napi_uint8_array, &n1, &ok);
  void *lens = array_arg(env, argv[2], napi_int32_array, &n2, &ok);
  if (n2 == 0 || n1 / n2 < 64) ok = 0;
  if (!ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "read(fd, Uint8Array, Int32Array)");
    return NULL;
  }
  size_t slot = n1 / n2;
  unsigned batch = n2 > MAX_BATCH ? MAX_BATCH : (unsigned)n2;
  struct mmsghdr msgs[MAX_BATCH];
  struct iovec iov[MAX_BATCH];
  memset(msgs, 0, sizeof(struct mmsghdr) * batch);
  for (unsigned i = 0; i < batch; i++) {
    iov[i].iov_base = (char *)data + i * slot;
    iov[i].iov_len = slot;
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  int n;
  do {
    n = recvmmsg(fd, msgs, batch, MSG_DONTWAIT | MSG_TRUNC, NULL);
  } while (n < 0 && errno == EINTR);
  napi_value out;
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) n = 0;
    else {
      napi_create_int32(env, -errno, &out);
      return out;
    }
  }
  int32_t *lengths = lens;
  for (int i = 0; i < n; i++) {
    int32_t got = (int32_t)msgs[i].msg_len;
    lengths[i] = (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) ? -got : got;
  }
  napi_create_int32(env, n, &out);
  return out;
}

// send(fd, Uint8Array) -> bytes sent | -errno. To the kernel (port 0); for the dump socket of the
// flow walk (src/netlink/polled.ts), which reads the replies with read().
static napi_value nl_send(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int ok;
  int fd = fd_args(env, info, 2, argv, &ok);
  size_t n = 0;
  void *data = array_arg(env, argv[1], napi_uint8_array, &n, &ok);
  if (!ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "send(fd, Uint8Array)");
    return NULL;
  }
  struct sockaddr_nl kernel;
  memset(&kernel, 0, sizeof kernel);
  kernel.nl_family = AF_NETLINK;
  ssize_t sent;
  do {
    sent = sendto(fd, data, n, 0, (struct sockaddr *)&kernel, sizeof kernel);
  } while (sent < 0 && errno == EINTR);
  napi_value out;
  napi_create_int32(env, sent < 0 ? -errno : (int32_t)sent, &out);
  return out;
}

static napi_value nl_close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int ok;
  int fd = fd_args(env, info, 1, argv, &ok);
  if (ok && fd >= 0) close(fd);
  return NULL;
}

// trim() -> true when memory was given back. glibc keeps the heap pages that free() returns, in
// every arena, for reuse; after a flow pass has freed a few MB of datagrams and decoder memory
// those pages stay resident until the next pass. malloc_trim(3) gives the free ones back.
static napi_value nl_trim(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out;
  napi_get_boolean(env, malloc_trim(0) != 0, &out);
  return out;
}

// releaseFilePages() -> the resident bytes of the mappings it dropped. Start-up touches tens of MB
// of the node binary (its snapshot, bootstrap code, compilers) that the process maps from then
// on and RSS counts, although a running exporter uses only part of them. This drops the page
// table entries of every private, read-only, file-backed mapping that holds no private
// (copy-on-write) page, read from /proc/self/smaps. For such a mapping madvise(MADV_DONTNEED) changes
// nothing the process can see: its pages are the file's, they stay in the page cache, and the
// next touch maps them again (a minor fault). Mappings with private pages (RELRO after
// relocation, a debugger's breakpoints) and writable ones are left alone: there MADV_DONTNEED
// would discard data. References: madvise(2) (MADV_DONTNEED), proc(5) (/proc/pid/smaps).
struct span {
  unsigned long start, end, rss_kb;
};

static napi_value nl_release_file_pages(napi_env env, napi_callback_info info) {
  (void)info;
  FILE *smaps = fopen("/proc/self/smaps", "re");
  if (smaps == NULL) return throw_errno(env, "open /proc/self/smaps", errno);
  struct span *spans = NULL, current = {0, 0, 0};
  size_t count = 0, capacity = 0;
  int candidate = 0, failed = 0;
  char line[4352];
  while (fgets(line, sizeof line, smaps) != NULL) {
    unsigned long start, end, kb;
    char perms[5];
    int path = 0;
    // A mapping's header: "start-end perms offset dev inode [path]"; its fields follow.
    if (sscanf(line, "%lx-%lx %4s %*x %*s %*u %n", &start, &end, perms, &path) == 3 && path > 0) {
      candidate = perms[0] == 'r' && perms[1] == '-' && perms[3] == 'p' && line[path] == '/';
      current = (struct span){start, end, 0};
    } else if (candidate && sscanf(line, "Rss: %lu kB", &kb) == 1) {
      current.rss_kb = kb;
    } else if (candidate && sscanf(line, "Anonymous: %lu kB", &kb) == 1) {
      candidate = 0;
      if (kb != 0 || current.rss_kb == 0) continue;
      if (count == capacity) {
        size_t grown = capacity ? capacity * 2 : 64;
        struct span *more = realloc(spans, grown * sizeof *spans);
        if (more == NULL) {
          failed = 1;
          break;
        }
        spans = more;
        capacity = grown;
      }
      spans[count++] = current;
    }
  }
  fclose(smaps);
  double released = 0;
  for (size_t i = 0; !failed && i < count; i++)
    if (madvise((void *)spans[i].start, spans[i].end - spans[i].start, MADV_DONTNEED) == 0)
      released += (double)spans[i].rss_kb * 1024;
  free(spans);
  if (failed) return throw_errno(env, "releaseFilePages", ENOMEM);
  napi_value out;
  napi_create_double(env, released, &out);
  return out;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"open", NULL, nl_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"read", NULL, nl_read, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, nl_close, NULL, NULL, NULL, napi_enumerable, NULL},
      {"send", NULL, nl_send, NULL, NULL, NULL, napi_enumerable, NULL},
      {"trim", NULL, nl_trim, NULL, NULL, NULL, napi_enumerable, NULL},
      {"releaseFilePages", NULL, nl_release_file_pages, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
