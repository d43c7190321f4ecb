"""Byte layout of the virtio-bus shared-memory segment: the one place that defines offsets.

One POSIX shared-memory segment per job. All integers are little-endian machine words; every
region that two processes write starts on its own 64-byte cache line so that the sender's and
the receiver's writes never share a line (false sharing costs a line transfer per message).

Segment
=======
::

    offset                 size          what
    0                      HEADER_SIZE   segment header (below)
    HEADER_SIZE            192 * nranks  rank slots (below), rounded up to a page
    queues_offset          stride * nq   plane 0 (point-to-point): nq = nranks * (nranks - 1) virtqueues,
                                         one per ordered pair
    coll queues offset     cstride * nq  plane 1 (collectives): the same pairs again, with their own queue
                                         size; only the collective engine touches them, so a collective
                                         never finds point-to-point traffic at the head of its queue

Segment header (written once by the launcher before any rank starts, except where noted)::

    +0    u64  magic            MAGIC
    +8    i64  layout version   LAYOUT_VERSION; a rank refuses a segment of another version
    +16   i64  nranks
    +24   i64  queue size       descriptors per queue, a power of two <= 32768
    +32   i64  buffer size      bytes per buffer, a multiple of 64
    +40   i64  queue stride     bytes per virtqueue
    +48   i64  queues offset    where queue 0 starts
    +56   i64  total size       bytes in the segment
    +64   i64  attached         each rank adds 1 (atomic fetch-add) once mapped; the launcher polls
                                it and unlinks the name when it reaches nranks
    +72   i64  launcher pid
    +80   i64  owner uid
    +88   i64  avail offset     region offsets inside a virtqueue (see queue_regions), checked
    +96   i64  used offset      against each queue's geometry line on attach
    +104  i64  txpriv offset
    +112  i64  rxpriv offset
    +120  i64  buffers offset
    +128  i64  abort code       0 while the job runs; the launcher (a rank died) or a rank (abort)
                                stores a non-zero ABORT_* code with a release store; ranks poll it
                                with an acquire load whenever they back off
    +136  i64  abort rank       rank that caused the abort, -1 for the launcher; written before
                                the abort code
    +144  i64  coll queue size  descriptors per virtqueue of plane 1 (collectives)
    +152  i64  coll stride      bytes per virtqueue of plane 1
    +160  i64  coll offset      where plane 1 starts (right after plane 0)

Rank slot r (192 bytes at HEADER_SIZE + 192 * r; written by rank r and read by the launcher, except
the doorbell words at +128 and +136, which peers write too; they have a cache line of their own,
so the peers that read them on every publish do not miss on the words the rank writes often)::

    +0    i64  pid
    +8    i64  state            RANK_* below
    +16   i64  blocked call     CALL_* code of the call the rank is blocked in, 0 when running
    +24   i64  blocked peer     the rank it waits for (-1 any source, -2 none)
    +32   i64  blocked tag
    +40   i64  heap size        bytes of the rank's shared heap (0: none yet), written before the token
    +48   i64  heap token       0 until the rank has created its heap (MPI.Alloc_mem), then the random
                                part of its name (heap.heap_name); published with a release store
    +56   i64  idle count       odd while the rank's process has nothing to run and its polls
                                move nothing (it is backing off); the process adds 1 (release
                                store) on each change. The launcher's deadlock check reads it.
    +64   i64  running rank     in the slot of the first rank of a process hosting several
                                ranks (toro_mpi.hosting): the rank whose green thread runs, a
                                plain store on each switch; the launcher names it if the
                                process dies (read only after the process is gone)
    +128  u32  doorbell         in the slot of the first rank of each process (every rank's own
                                slot with one process per rank): a futex word the process sleeps
                                on when it has nothing to do (FUTEX_WAIT, not private: it is
                                shared memory). Whoever wakes it adds 1 (atomic, seq_cst) and
                                calls FUTEX_WAKE. The upper 32 bits of the i64 are carry only.
    +136  i64  sleeping         same slot: 1 while that process is about to sleep or sleeps on
                                its doorbell, else 0. The process stores 1 (after reading the
                                doorbell), then a seq_cst fence, then looks at its queues once
                                more before it sleeps; a peer that has just published a queue
                                index makes a seq_cst fence, reads this word and, if it is 1,
                                takes it back to 0 (compare-exchange: one waker rings) and rings.
                                Either the sleeper's last look sees the new index or the peer sees
                                1 (a store-then-load handshake on both sides), so no wake is lost.

Shared heap (one per rank, created by the rank itself on its first MPI.Alloc_mem)
=================================================================================
A separate POSIX shared-memory object per rank, ``/toro_mpi.<launcher pid>.heap<rank>.<token>``
(O_EXCL, mode 0600, `bus.heap_size` bytes), so the launcher's teardown and `toro-mpirun --cleanup`
remove it as one of the job's names; the rank unlinks it itself when it finalizes. Peers map it
read-only, lazily, on the first KIND_HEAP message from that rank, after checking owner, mode and
size. Nothing in the job segment points into a heap: a KIND_HEAP message carries an offset that the
receiver bounds-checks against the size of its own mapping.

Virtqueue src -> dst (virtio 1.x split ring, VIRTIO_F_IN_ORDER)
=================================================================
The **sender is the driver** and the **receiver is the device**: in virtio the driver owns the
descriptors and the buffers and makes them available; the device consumes them and hands them
back through the used ring. A sending rank plays the guest's transmit queue (it fills buffers it
owns), the receiving rank plays the device that drains them. With in-order use the device returns
descriptors in the order it got them, so descriptor i is always paired with buffer i and the
driver never has to search for a free descriptor.
::

    queue offset q (relative to the segment base)
    q + 0           64          geometry line, written by the launcher, read-only afterwards:
                                i64 Q, i64 B, i64 AVAIL, i64 USED, i64 TXPRIV, i64 RXPRIV,
                                i64 BUFFERS (offsets relative to q), i64 q itself. Checked on
                                attach; the kernels never trust it afterwards (any rank could
                                rewrite it): they take a *handle*, the address of a copy of the
                                geometry in process-private memory (H_* below).
    q + DESC        Q * 16      descriptor table: u64 addr (segment offset of the buffer),
                                u32 len (bytes used), u32 probe (virtio's u16 flags and u16
                                next: fragments are never chained; 0, or a trial fragment's
                                cost, see "Streaming stores"). Driver writes.
    q + AVAIL       64 + 2Q + 2 available ring: u16 flags, u16 idx, then (not virtio's) i64
                                inline mark at +8 and 48 bytes of inline message at +16 (see
                                "Inline small messages"); u16 ring[Q] from +64, u16 used_event.
                                Driver writes; `idx` is published with a release store after the
                                descriptor and the buffer (and the inline copy) are written.
                                The device does not read ring[]: in order, entry i is
                                always descriptor i.
    q + USED        6 + 8Q      used ring: u16 flags, u16 idx, {u32 id, u32 len}[Q],
                                u16 avail_event. Device writes; `idx` published with a release
                                store after the device has finished reading the buffers.
    q + TXPRIV      64          driver-private: i64 next avail (free-running), i64 used seen,
                                i64 rendezvous requests numbered (TX_RNDV_SEQ)
    q + RXPRIV      64          device-private: i64 next to consume (free-running), i64 bytes of
                                the current message already delivered, i64 its total, i64 active
    q + SIGNALS     64          i64 signals posted (free-running). Driver writes, with a seq_cst
                                atomic add (a release and more); the device polls it with an
                                acquire load
    q + SEEN        64          i64 signals taken (free-running). Device writes (release); the
                                launcher reads it for its deadlock check.
                                +8: i64 stream advice, STREAM_* below: how the device last
                                found the two kinds of stores to cost (see
                                "Streaming stores"). Device writes (release) only when it
                                changes; the driver reads it (acquire) before a message it could
                                stream (a barrier's signal, +0, also moves this line)
    q + ACKS        512         rendezvous acknowledgements: i64 slot[RNDV_SLOTS], eight lines.
                                Device writes (release), driver reads (acquire); see
                                "Rendezvous" below
    q + BUFFERS     Q * B       buffers, buffer i belongs to descriptor i

SIGNALS and SEEN sit at RXPRIV + 64 and RXPRIV + 128 (the geometry line has no room for their
offsets). A signal is a message without a message: a barrier's "I am here" costs one cache line
moving one way instead of the avail index, ring entry, descriptor and buffer lines of an empty
message (ring.tx_signal, ring.rx_signal). Signals carry no tag or context, so they serve only
calls whose order between two ranks is fixed by MPI itself: blocking barriers (two ranks that
share two barriers must call them in the same order, or the program deadlocks whatever the
implementation does), so the n-th signal one rank posts to another is always the one the other
rank's n-th wait for it expects. The queue is empty when avail.idx == used.idx and SIGNALS == SEEN.

Streaming stores: a sender writes a fragment of a message of at least H_STREAM_MIN bytes with
non-temporal stores (to memory) or with plain ones (into its cache), whichever the pair of cores
pays less for; only measuring tells. When the two cores share no cache (another die or socket, a
VM's vCPUs placed so; ~200 ns a line transfer on AMD Zen 4) plain stores made the two-copy
pipeline 2-10x slower: the receiver pulls every line out of the sender's cache. When they share
one, plain stores win by 1.3-2x, and how far apart the cores are says nothing about which case
it is (150 ns on an Intel Xeon host between two vCPUs that share an L3, where plain still won;
BENCHMARKS.md "Large messages"). So the pair measures what it pays. Trials: a sender that runs them
(H_STREAM_PROBE set, only for messages of at least H_STREAM_MIN bytes) counts its fragments by
its TX_NEXT in passes of the ring (Q fragments); from fragment AB_SKIP on, the first
AB_TRIAL_PASSES passes of every AB_PERIOD_PASSES (while an advice stands, the AB_TRIAL_PASSES
after the first AB_SETTLED_PASSES) are trials, stored plainly or streamed by blocks
of AB_BLOCK_PASSES passes (plain, streamed, plain, streamed), whatever the advice. Only the last
pass of a block is timed: its fragment's buffer was written one pass before with the same kind,
so each kind is timed in its own steady state. (Timing a kind right after the other, one
fragment or one pass later, measured the switch: each kind made the other look dear, and the
advice stuck with whichever came first.) The sender times its copy into the buffer (`rdtsc`
after an `lfence`, atomics.read_cycles) and writes the cycles in the descriptor's probe word
(bits 0-30, at least 1; bit 31 AB_STREAMED if it streamed); 0 for a fragment not timed, which
includes any shorter than min(H_STREAM_MIN, B/2) (a message's tail; every message it streams
has a first fragment at least that long). The receiver times its copy out of (or, for a
reduction's segment read in place, bus/held.py, its combine of) each fragment whose probe word
is set, adds the sender's cycles, and keeps per kind the sum, maximum and count of those costs
per KiB (its handle's H_AB_PLAIN / H_AB_STREAM; the counter runs at one rate on every core; a
sample whose counter went backwards is dropped). Once both kinds have AB_SAMPLES (ab_samples) it compares the
means without each kind's slowest sample (an interrupt only adds time), starts a new window,
and publishes the advice in the SEEN line's advice word when it changes: STREAM_ON when
streaming is cheaper by AB_MARGIN/16, STREAM_OFF otherwise (ties go to plain stores: where the
copies cost the same, the plain pipeline ran faster end to end). Each decision stands on its
own window: no bias toward the advice before. Until the first decision (STREAM_UNMEASURED, also
for good when trials are off) a sender streams, as before there was a measurement. The launcher
starts a queue with the advice a past job's trials reached between the same two cores, when it
has one (launcher/stream_memory.py; written before the segment's magic). A sender
reads the advice once per tx_push call. Cost: two counter reads per timed fragment on each side,
and the trials of the worse kind: half of the AB_TRIAL_PASSES, 4 passes of 2048 per period, so
where the worse kind costs 10x the period takes 2048 + 4 * 9 passes of time instead of 2048
(1.7%), where it costs 2x 2048 + 4 (0.2%).

Inline small messages: a message of at most INLINE_MAX (16) payload bytes that goes in one
fragment is also copied, header and payload, into the avail ring's first line, the line the
receiver polls for avail.idx, so that the receiver takes it with that one line transfer instead
of a second round for its descriptor and buffer (150-300 ns a transfer between these vCPUs).
The sender still writes descriptor, ring entry and buffer as for any fragment (every other
reader, and the fallback below, use them) and then, as a seqlock: the i64 mark at +8 to
2 * fragment + 1 (odd: being written), a release fence, the copy at +16, the mark to
2 * fragment + 2 (release store), then avail.idx (release store). The receiver, having seen
avail.idx pass the fragment it wants (acquire), reads the mark (acquire); only if it names that
fragment does it copy the 48 bytes into its handle (H_INLINE), fence (acquire) and read the mark
again: unchanged, and the copy's length in range, the copy is the message; otherwise (a later
message's copy, or one half written) it reads the descriptor and buffer as usual. So a copy is
never trusted unless whole and for the fragment it is taken as, and every message remains whole
in its buffer. A trial fragment ("Streaming stores") is never copied inline, so an inline
fragment's probe word is not read either.

Rendezvous: a message of at least `[bus] rendezvous_threshold` bytes between two processes of one
node travels as a KIND_RNDV header only (pid and address of the sender's buffer, FLAG_ACK_SLOT);
the receiver copies the payload once, straight out of the sender with process_vm_readv, from the
receive kernel itself when the receive is posted (ring.rx_match) or from Python otherwise, and
then acknowledges in a slot of the queue's ACKS region instead of sending a KIND_ACK message back
(one line moving one way, no ring entry, and nothing the sender must drain in order). The
sender numbers its rendezvous requests on the queue (TX_RNDV_SEQ, from 1, driver-private); the
request numbered s carries s as its cookie and owns slot s mod RNDV_SLOTS; the receiver stores s
there (release) once it has read the payload, and the sender's send is complete when it loads
(acquire) a value >= s from the slot. A slot is free for request s when it holds at least
s - RNDV_SLOTS (the request before it in that slot was acknowledged); when it is not (RNDV_SLOTS
requests of this queue still unread, which a receiver that matches them out of order may keep so
for any time) the message goes eager through the ring instead, so a request never waits for
another one's receive. A slot store is followed by a doorbell ring (the sender may be asleep in
its Send). Rendezvous messages to or from other nodes carry no FLAG_ACK_SLOT and are
acknowledged with KIND_ACK (mpi/netroute.py).

Indices: `avail.idx` and `used.idx` are free-running 16-bit counters (virtio); the private
counters are int64. Differences are taken modulo 2**16, which is exact because Q <= 32768.
The polled side reads each index with an acquire load, so the descriptor and buffer contents it
then reads are those written before the matching release store.

Messages
========
A message travels as one or more fragments, each one descriptor + buffer. The first fragment
starts with a 32-byte header; the payload follows it in the same buffer (so a small message is
one buffer line, header and data together). Continuation fragments carry payload only and fill
the whole buffer. Fragments of one message are consecutive in the queue (a sender finishes one
message before starting the next on the same queue).
::

    +0   i32 kind       KIND_* below
    +4   i32 flags      bit 0 FLAG_SYNC: the receiver answers with KIND_ACK once matched;
                        bit 1 FLAG_ACK_SLOT: a rendezvous request acknowledged in a slot;
                        bits 8-15 the sender's element type (WIRE_TYPES, 0 = bytes: unchecked)
    +8   i32 tag
    +12  i32 context    communicator context id (point-to-point and collective ids differ)
    +16  i64 total      payload bytes of the whole message
    +24  i64 cookie     sender's request id, echoed back in KIND_ACK (KIND_RNDV with
                        FLAG_ACK_SLOT: the request's number on the queue, see "Rendezvous")
    +32  ...            payload (KIND_RNDV: i64 pid, i64 address of the sender's buffer;
                        KIND_HEAP: i64 offset of the payload in the sender's heap, i64 heap token)
"""

from __future__ import annotations

MAGIC = 0x31535542_4F524F54  # b"TOROBUS1" little-endian
LAYOUT_VERSION = 11
CACHE_LINE = 64
PAGE = 4096
MAX_QUEUE_SIZE = 32768

# Segment header offsets.
HDR_MAGIC = 0
HDR_VERSION = 8
HDR_NRANKS = 16
HDR_QSIZE = 24
HDR_BUFSIZE = 32
HDR_QSTRIDE = 40
HDR_QOFFSET = 48
HDR_TOTAL = 56
HDR_ATTACHED = 64
HDR_LAUNCHER_PID = 72
HDR_OWNER_UID = 80
HDR_AVAIL_OFF = 88
HDR_USED_OFF = 96
HDR_TXPRIV_OFF = 104
HDR_RXPRIV_OFF = 112
HDR_BUF_OFF = 120
HDR_ABORT = 128
HDR_ABORT_RANK = 136
HDR_COLL_QSIZE = 144
HDR_COLL_QSTRIDE = 152
HDR_COLL_QOFFSET = 160
HEADER_SIZE = 256

# Rank slots.
SLOT_SIZE = 192
SLOT_PID = 0
SLOT_STATE = 8
SLOT_CALL = 16
SLOT_PEER = 24
SLOT_TAG = 32
SLOT_HEAP_SIZE = 40
SLOT_HEAP_TOKEN = 48
SLOT_IDLE = 56
SLOT_RUNNING = 64
SLOT_BELL = 128
SLOT_SLEEPING = 136
BELL_SLEEPING = SLOT_SLEEPING - SLOT_BELL  # the sleeping word, relative to the doorbell's address

RANK_ABSENT = 0
RANK_ATTACHED = 1
RANK_FINISHED = 2

# Abort codes stored at HDR_ABORT.
ABORT_NONE = 0
ABORT_RANK_FAILED = 1  # a rank exited non-zero or died by a signal
ABORT_USER = 2  # a rank called Abort()
ABORT_TIMEOUT = 3  # the launcher's --timeout expired
ABORT_INTERRUPT = 4  # the launcher got SIGINT/SIGTERM
ABORT_DEADLOCK = 5  # the launcher found every rank blocked with nothing in flight

# Codes of the blocking call a rank is in (rank slot SLOT_CALL).
CALL_NAMES = {
    0: "running",
    1: "Recv",
    2: "Send",
    3: "Wait",
    4: "Probe",
    5: "Ssend",
    6: "Waitall",
    7: "Waitany",
    8: "yield",
    9: "Sendrecv",
    # Collectives: code 9 + the collective's kind (its tag on the collective plane).
    10: "Barrier",
    11: "Bcast",
    12: "Reduce",
    13: "Allreduce",
    14: "Gather",
    15: "Gatherv",
    16: "Scatter",
    17: "Scatterv",
    18: "Allgather",
    19: "Allgatherv",
    20: "Alltoall",
    21: "Alltoallv",
    22: "Scan",
    23: "Exscan",
    24: "Reduce_scatter_block",
}
COLL_CALL_BASE = 9
CALL_CODES = {name: code for code, name in CALL_NAMES.items()}

# Queue geometry line (at the start of every virtqueue).
QG_QSIZE = 0
QG_BSIZE = 8
QG_AVAIL = 16
QG_USED = 24
QG_TXPRIV = 32
QG_RXPRIV = 40
QG_BUFFERS = 48
QG_SELF = 56

# Queue handle: a process-private int64[HANDLE_WORDS] record per virtqueue (segment.py builds
# them on create/attach from the segment header, not from the shared geometry line).
H_QADDR = 0  # address of the virtqueue in this process
H_QOFF = 8  # offset of the virtqueue in the segment (descriptor addresses are segment offsets)
H_QSIZE = 16
H_BSIZE = 24
H_AVAIL = 32
H_USED = 40
H_TXPRIV = 48
H_RXPRIV = 56
H_BUFFERS = 64
# Address of the doorbell (SLOT_BELL) of the process at the queue's other end, 0 when that end is
# in this same process or doorbells are off: ring.tx_push rings it after publishing avail.idx (for
# the receiver), the receive kernels after publishing a used.idx that takes the ring from full
# (for a sender waiting for room: the only time a sender waits on used.idx).
H_PEER_BELL = 72
H_SIGNALS = 80  # offsets of the queue's SIGNALS and SEEN lines (relative to the queue, as above)
H_SEEN = 88
# Messages of at least this many bytes have their payload copied into the ring with streaming
# (non-temporal) stores, atomics.memcpy_stream; 0: never. Process-private, from [bus] config.
H_STREAM_MIN = 96
# 1: this sender sends trial fragments (see "Streaming stores") and follows its receiver's
# advice; 0: it streams by size alone (no measurement, or not an x86 machine). Process-private.
H_STREAM_PROBE = 104
H_INFO = 128  # int64[INFO_LEN]: the header rx_recv saw last (process-private, so no array argument)
# The receiving side's trial costs (cycles per KiB, sender's and receiver's copy), per kind: three
# words each, AB_SUM, AB_MAX, AB_COUNT; H_AB_LAST: the last comparison's streamed cost per mille
# of the plain one (diagnostics, tests). All process-private.
H_AB_PLAIN = 192  # (after H_INFO's INFO_LEN words)
H_AB_STREAM = 216
H_AB_LAST = 240
H_AB_HELD = 248  # the counter when a held trial fragment's combine began (bus/held.py), else 0
AB_SUM, AB_MAX, AB_COUNT = 0, 8, 16
H_ACKS = 256  # offset of the queue's ACKS region (relative to the queue)
# Address of the SLOT_PID word of the queue's sender (this rank itself on the queues it sends
# on) when rendezvous is on, else 0: the receive kernels then leave every rendezvous read to
# Python, and the senders' tx_send_rndv is not called.
H_SENDER_PID = 264
H_IOV = 272  # four words: the two iovecs of a process_vm_readv the receive kernels make
H_RNDV_READS = 304  # rendezvous payloads the receive kernels read on this queue (diagnostics, tests)
H_RNDV_SPINS = 312  # polls tx_send_rndv makes for its acknowledgement (a blocking Send's spin)
# Address of a word of the receiving engine's (0: none): while it is non-zero the receive kernels
# leave rendezvous payloads unread (an Irecv posting: the reads wait for the engine's progress,
# so a rank that posts its receives before its sends sends before it reads).
H_RNDV_DEFER_AT = 320
# 48 bytes: the receiver's copy of an inline message (header and payload) out of the avail line,
# taken under its mark (see "Inline small messages"); the receive kernels read it from here.
H_INLINE = 328
HANDLE_WORDS = 48

# Descriptor.
DESC_SIZE = 16
DESC_ADDR = 0
DESC_LEN = 8
DESC_PROBE = 12  # u32 (virtio's flags and next): a trial fragment's cost, see "Streaming stores"

# Virtqueue-relative region offsets are computed by queue_regions(); these are field offsets.
RING_FLAGS = 0
RING_IDX = 2
RING_ENTRIES = 4  # the used ring's {u32 id, u32 len}[Q]
# The avail ring's first line holds flags, idx and the last inline message (see "Inline small
# messages"); its u16 ring[Q] starts on the next line.
AVAIL_INLINE_SEQ = 8  # i64: 2 * fragment + 2 once written, odd while being written
AVAIL_INLINE = 16  # the message's header and payload
AVAIL_ENTRIES = 64
USED_ELEM = 8
VIRTQ_AVAIL_F_NO_INTERRUPT = 1  # we poll: the driver never wants a notification
VIRTQ_USED_F_NO_NOTIFY = 1

TX_NEXT = 0  # driver-private: descriptors made available so far (free-running)
TX_USED = 8  # driver-private: descriptors seen back in the used ring so far
RX_NEXT = 0  # device-private: descriptors consumed so far
RX_DONE = 8  # device-private: bytes of the current message delivered
RX_TOTAL = 16  # device-private: total bytes of the current message
RX_ACTIVE = 24  # device-private: 1 while a fragmented message is being delivered
TX_RNDV_SEQ = 16  # driver-private: rendezvous requests numbered so far (see "Rendezvous")
RNDV_SLOTS = 64  # acknowledgement slots per queue (the ACKS region), a power of two
SEEN_ADVICE = 8  # in the SEEN line: the stream advice, one of STREAM_* (see "Streaming stores")
STREAM_UNMEASURED = 0
STREAM_ON = 1  # streamed fragments cost the pair less
STREAM_OFF = 2  # plainly stored ones did
# Trials (see "Streaming stores"), counted in passes of the ring (Q fragments): the first
# AB_TRIAL_PASSES of every AB_PERIOD_PASSES, by kind in blocks of AB_BLOCK_PASSES (the last pass of
# a block timed), decided on once each kind has AB_SAMPLES; AB_MARGIN/16: how much cheaper
# streaming must be to be advised. Powers of two. The period is 2048 passes: at Q = 64 fragments
# of 32 KiB, 131072 fragments or 4 GiB, about 0.4 s of traffic at 10 GB/s.
AB_PERIOD_PASSES = 2048
AB_TRIAL_PASSES = 8
AB_BLOCK_PASSES = 2
# Trials start AB_SKIP fragments into each period: a queue's first fragments pay for cold caches and
# the first touch of the receiver's buffers (page faults), which would count against the kind
# tried first (at 64 KiB that made the ping-pong's trials advise streaming, 1.35x slower).
AB_SKIP = 256
# While an advice stands (this job's decision, or a past job's on the same cores, preset by the
# launcher: launcher/stream_memory.py) the trial window sits AB_SETTLED_PASSES passes into the
# period instead of at its start: a short job started with the advice then runs on it alone, and
# trying the other kind half the time in its first 8 passes made a 128 KiB bcast 1.7x slower here.
# 64 passes (128 MiB at Q = 64) bounds what a stale advice (a VM moved to other hardware) costs
# before it is measured again.
AB_SETTLED_PASSES = 64
# AB_SAMPLES: a kind's samples for a decision, Q/2 for a queue of fewer than 64 (ring.ab_samples);
# with 8 a 512 KiB ping-pong here read 1.02-1.54 and once (in 14 directions) advised streaming.
AB_SAMPLES = 32
AB_MARGIN = 2
AB_STREAMED = 1 << 31
AB_COST_MASK = (1 << 31) - 1

# Message header.
MSG_HEADER = 32
MSG_KIND = 0
MSG_FLAGS = 4
MSG_TAG = 8
MSG_CTX = 12
MSG_TOTAL = 16
MSG_COOKIE = 24
# The longest payload a message may carry inline in its queue's avail line ("Inline small messages").
INLINE_MAX = CACHE_LINE - AVAIL_INLINE - MSG_HEADER


KIND_EAGER = 1  # payload travels through the ring
KIND_RNDV = 2  # payload stays in the sender; the receiver reads it with process_vm_readv
KIND_ACK = 3  # control: receiver matched (FLAG_SYNC) or has read (KIND_HEAP; KIND_RNDV from another node)
KIND_HEAP = 4  # payload stays in the sender's shared heap; the receiver copies it out of its mapping
FLAG_SYNC = 1
FLAG_ACK_SLOT = 2  # a rendezvous request acknowledged in its ACKS slot (see "Rendezvous")
# The element type a message carries travels in flags bits 8-15, so a receive into an array of
# another type is reported (ERR_TYPE) instead of reinterpreting the bytes. Types are compared by
# their machine representation, as MPI's type-signature rule does on one machine (MPI_INT and
# MPI_INT32_T are the same signature here). One-byte integer types are "bytes" (code 0) and match
# anything: a byte buffer is how a program says "just the bytes", and MPI_CHAR vs MPI_BYTE vs
# uint8 buffers are used interchangeably in practice.
FLAG_TYPE_SHIFT = 8
FLAG_TYPE_MASK = 0xFF << FLAG_TYPE_SHIFT
# Every type here has numba kernels of its own (so the sender's and receiver's code agree on
# every path); others (float16, longdouble, records) travel as bytes.
_WIRE_DTYPES = (("b1", "bool"), ("i2", "int16"), ("u2", "uint16"), ("i4", "int32"), ("u4", "uint32"),
                ("i8", "int64"), ("u8", "uint64"), ("f4", "float32"), ("f8", "float64"),
                ("c8", "complex64"), ("c16", "complex128"))
WIRE_TYPES = {code: n for n, (code, _) in enumerate(_WIRE_DTYPES, 1)}
WIRE_TYPE_NAMES = {0: "bytes", **{n: name for n, (_, name) in enumerate(_WIRE_DTYPES, 1)}}


def wire_type(dtype_str: str) -> int:
    """The wire type code of a numpy dtype given by its `str` without byte order ('f8')."""
    return WIRE_TYPES.get(dtype_str, 0)


def flag_type(flags: int) -> int:
    """The element type code in a header's flags word."""
    return (flags & FLAG_TYPE_MASK) >> FLAG_TYPE_SHIFT


def types_match(a: int, b: int) -> bool:
    """Whether element types a and b (wire codes) may meet: equal, or either is bytes."""
    return a == b or a == 0 or b == 0

# Status codes returned by the jitted receive kernels (see ring.py).
RX_EMPTY = 0
RX_COMPLETE = 1
RX_PARTIAL = 2
RX_NO_MATCH = 3
# Consumed and complete, but not a plain fitting eager message: a rendezvous request, an
# acknowledgement, a synchronous send, or more bytes than the buffer holds. The caller reads
# `info` and takes the general path; RX_COMPLETE lets a fast path skip reading `info`.
RX_SPECIAL = 4
# Errors are negative.
ERR_CORRUPT_INDEX = -1
ERR_CORRUPT_DESC = -2
ERR_CORRUPT_HEADER = -3
ERR_CORRUPT_USED = -4
ERR_MESSAGES = {
    ERR_CORRUPT_INDEX: "available index moved by more than the queue size",
    ERR_CORRUPT_DESC: "descriptor points outside its buffer",
    ERR_CORRUPT_HEADER: "message header is inconsistent",
    ERR_CORRUPT_USED: "used ring returned a descriptor out of order",
}
# tx kernel: returns bytes sent so far (>= 0), TX_NOT_STARTED when the ring had no room for the
# first fragment, or a negative ERR_* code below that.
TX_NOT_STARTED = -1
# ring.tx_rndv: every acknowledgement slot of the queue is taken (send the message eager instead).
TX_NO_SLOT = -2
TX_ERR_BASE = -16

# Info array filled by the receive kernels (int64[INFO_LEN]). A rendezvous message that a receive
# kernel has read and acknowledged itself is reported as KIND_EAGER: its payload is in the buffer.
INFO_KIND = 0
INFO_FLAGS = 1
INFO_TAG = 2
INFO_CTX = 3
INFO_TOTAL = 4
INFO_COOKIE = 5
INFO_AUX0 = 6
INFO_AUX1 = 7
INFO_LEN = 8

ANY = -1  # wildcard for tag and context in the receive kernels
PEEK = -2  # context argument of rx_match: report the head without consuming it


def _align(value: int, to: int) -> int:
    return (value + to - 1) // to * to


def queue_regions(queue_size: int, buffer_size: int) -> dict[str, int]:
    """Offsets of each region inside one virtqueue and the queue's stride."""
    desc = CACHE_LINE  # after the geometry line
    avail = _align(desc + DESC_SIZE * queue_size, CACHE_LINE)
    used = _align(avail + AVAIL_ENTRIES + 2 * queue_size + 2, CACHE_LINE)
    txpriv = _align(used + 6 + 8 * queue_size, CACHE_LINE)
    rxpriv = txpriv + CACHE_LINE
    signals = rxpriv + CACHE_LINE
    seen = signals + CACHE_LINE
    acks = seen + CACHE_LINE
    buffers = acks + 8 * RNDV_SLOTS
    stride = _align(buffers + queue_size * buffer_size, PAGE)
    return {
        "geom": 0,
        "desc": desc,
        "avail": avail,
        "used": used,
        "txpriv": txpriv,
        "rxpriv": rxpriv,
        "signals": signals,
        "seen": seen,
        "acks": acks,
        "buffers": buffers,
        "stride": stride,
    }


def queues_offset(nranks: int) -> int:
    """Where the first virtqueue starts: after the header and the rank slots."""
    return _align(HEADER_SIZE + SLOT_SIZE * nranks, PAGE)


P2P_PLANE = 0
COLL_PLANE = 1
PLANES = 2


def plane_offsets(nranks: int, queue_size: int, buffer_size: int, coll_queue_size: int) -> list[tuple[int, int, int]]:
    """(queue size, stride, offset of the first queue) of each plane."""
    nq = nranks * (nranks - 1)
    p2p_stride = queue_regions(queue_size, buffer_size)["stride"]
    coll_stride = queue_regions(coll_queue_size, buffer_size)["stride"]
    first = queues_offset(nranks)
    return [(queue_size, p2p_stride, first), (coll_queue_size, coll_stride, first + nq * p2p_stride)]


def segment_size(nranks: int, queue_size: int, buffer_size: int, coll_queue_size: int | None = None) -> int:
    """Total bytes of a segment for this geometry (coll_queue_size defaults to queue_size)."""
    cq = queue_size if coll_queue_size is None else coll_queue_size
    nq = nranks * (nranks - 1)
    _, stride, offset = plane_offsets(nranks, queue_size, buffer_size, cq)[COLL_PLANE]
    return offset + nq * stride


def queue_index(src: int, dst: int, nranks: int) -> int:
    """Index of the virtqueue carrying src -> dst (src != dst) within its plane."""
    return src * (nranks - 1) + (dst if dst < src else dst - 1)


def validate_geometry(nranks: int, queue_size: int, buffer_size: int) -> None:
    """Raise ValueError when a geometry cannot be laid out."""
    if nranks < 1:
        raise ValueError(f"nranks must be >= 1, got {nranks}")
    if queue_size < 2 or queue_size > MAX_QUEUE_SIZE or queue_size & (queue_size - 1):
        raise ValueError(f"queue_size must be a power of two in 2..{MAX_QUEUE_SIZE}, got {queue_size}")
    if buffer_size < 2 * MSG_HEADER or buffer_size % CACHE_LINE:
        raise ValueError(f"buffer_size must be a multiple of 64 and >= 64, got {buffer_size}")
