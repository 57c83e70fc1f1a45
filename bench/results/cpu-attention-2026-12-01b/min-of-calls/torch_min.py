# The fastest of n SDPA calls (the first left out), in ms, on [B, H, S, D] views of
# [B, S, H, D] tensors as bench/torch_cases.py does: thread CPU time, or wall time
# with WALL set; THREADS threads (default 1). args: dtype B S Sk H Hkv D causal n
import sys, time, torch, torch.nn.functional as F
dt = {"f32": torch.float32, "bf16": torch.bfloat16}[sys.argv[1]]
b, s, sk, h, hkv, d, causal, n = map(int, sys.argv[2:10])
import os
wall = "WALL" in os.environ
torch.set_num_threads(int(os.environ.get("THREADS", "1")))
clock = time.perf_counter if wall else time.thread_time
g = torch.Generator().manual_seed(0)
q = torch.randn(b, s, h, d, generator=g).to(dt).transpose(1, 2)
k = torch.randn(b, sk, hkv, d, generator=g).to(dt).transpose(1, 2)
v = torch.randn(b, sk, hkv, d, generator=g).to(dt).transpose(1, 2)
best = 1e9
for i in range(n):
    t0 = clock()
    F.scaled_dot_product_attention(q, k, v, is_causal=bool(causal), enable_gqa=h != hkv)
    t = clock() - t0
    if i: best = min(best, t)
print(f"{best*1e3:.2f}", end="")
