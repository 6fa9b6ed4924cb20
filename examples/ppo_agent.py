"""Train a PPO flush policy on sluice's policy environment, then serve it to a cluster.

    pip install gymnasium stable-baselines3 nats-py   # not needed by sluice's own tests
    python examples/ppo_agent.py train --steps 200000 --pattern bursts
    python examples/ppo_agent.py serve --nats nats://127.0.0.1:4222 --cluster default

`train` wraps `npx sluice env` (JSON lines on stdin/stdout, docs/policies.md) in a Gymnasium env:
the observation is the waiting slot's features, the action WAIT (0) or SERVE (1), the reward what
the requests answered since the last step earned. `serve` answers `sluice.<cluster>.policy.decide`
asks with the trained model (protocol v1), as `sluice agent` does with the adaptive learner; a node
with `batch.policy: "agent"` asks it and falls back to its guards when it is slow or gone.
"""
import argparse, asyncio, json, math, subprocess

import gymnasium as gym
import numpy as np

FEATURES = ["queueDepth", "arrivalRatePerMs", "slotAgeMs", "upstreamP99Ms", "maxWaitMs", "maxBatchSize"]


def to_vector(o):
    # Log-scaled so rates, ages and depths of very different sizes train well; unknown p99 is 0.
    return np.array([math.log1p(o[k] or 0.0) for k in FEATURES], dtype=np.float32)


class SluiceEnv(gym.Env):
    def __init__(self, pattern="steady", duration_ms=60000, max_wait_ms=100):
        self.proc = subprocess.Popen(["npx", "sluice", "env"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.pattern, self.duration_ms, self.max_wait_ms, self.seed_ = pattern, duration_ms, max_wait_ms, 0
        self.observation_space = gym.spaces.Box(0.0, np.inf, shape=(len(FEATURES),), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(2)  # 0 WAIT, 1 SERVE

    def _ask(self, msg):
        self.proc.stdin.write(json.dumps(msg) + "\n")
        self.proc.stdin.flush()
        answer = json.loads(self.proc.stdout.readline())
        if "error" in answer:
            raise RuntimeError(answer["error"])
        return answer

    def _out(self, a):
        obs = to_vector(a["observation"]) if a["observation"] else np.zeros(len(FEATURES), dtype=np.float32)
        return obs, a["reward"], a["done"], False, a["info"]

    def reset(self, seed=None, options=None):
        self.seed_ = seed if seed is not None else self.seed_ + 1
        a = self._ask({"op": "reset", "pattern": self.pattern, "seed": self.seed_, "durationMs": self.duration_ms, "maxWaitMs": self.max_wait_ms})
        obs, _, _, _, info = self._out(a)
        return obs, info

    def step(self, action):
        return self._out(self._ask({"op": "step", "action": "SERVE" if action == 1 else "WAIT"}))


def train(args):
    from stable_baselines3 import PPO
    model = PPO("MlpPolicy", SluiceEnv(args.pattern), verbose=1)
    model.learn(total_timesteps=args.steps)
    model.save(args.model)


async def serve(args):
    import nats
    from stable_baselines3 import PPO
    model = PPO.load(args.model)
    nc = await nats.connect(args.nats)

    async def decide(msg):
        # sluice's bus wraps every payload in a versioned envelope: {"v": 1, "d": <payload>}
        ask = json.loads(msg.data).get("d") or {}
        if ask.get("v") != 1:
            return  # unknown version: no answer, the node's guards decide
        action, _ = model.predict(to_vector(ask), deterministic=True)
        await msg.respond(json.dumps({"v": 1, "d": {"v": 1, "decision": "SERVE" if action == 1 else "WAIT"}}).encode())

    await nc.subscribe(f"sluice.{args.cluster}.policy.decide", queue="sluice-policy-agents", cb=decide)
    await asyncio.Event().wait()


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["train", "serve"])
    p.add_argument("--steps", type=int, default=200000)
    p.add_argument("--pattern", default="bursts")
    p.add_argument("--model", default="sluice-ppo")
    p.add_argument("--nats", default="nats://127.0.0.1:4222")
    p.add_argument("--cluster", default="default")
    a = p.parse_args()
    train(a) if a.mode == "train" else asyncio.run(serve(a))
