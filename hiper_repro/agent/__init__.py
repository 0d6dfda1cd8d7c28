"""The LLM agent: models, tokenizer, policy with value heads, prompts, parser, rollout, warm start, eval.

API summary (for the trainer; details in each module's docstring):

Models and policy
    models.build_tiny_model(name, tokenizer, seed) -> PreTrainedModel     # "tiny-xs|tiny-s|tiny-m|tiny-qwen-s"
    models.load_model(name, cache_dir=None) -> (model, tokenizer)         # "smollm2-135m", HF id or folder
    models.save_model(model, tokenizer, out)                              # plain HF folder, atomic
    tokenizer.train_word_tokenizer(texts) -> PreTrainedTokenizerFast      # tiny models; each tag one token
    policy.PolicyConfig(fmt="plan_execute"|"flat", heads=("low","high"[,"term"]) | ("low",),
                        head_hidden=0, lora=LoraSettings(rank, alpha, dropout, target_modules) | None, seed)
    policy.Policy(lm, tokenizer, config)            # nn.Module; .tokenizer .pad_id .keep_id .switch_id
    Policy.load(dir, config=None, device="cpu")     # saved policy, or a base HF folder + config (fresh heads)
    policy.save(dir, merge_lora=False, base_path=None)
    policy.hidden(ids, attn, position_ids=None, cache=None, use_cache=False) -> (h (B,L,H), cache)
    policy.logits(h) -> (..., V) float32;  policy.values(h) -> (..., n_heads), column = head_index(name)
    policy.attach_frozen_reference()                # full fine-tuning: frozen copy = reference policy
    with policy.reference_mode(): ...               # LoRA: adapters disabled; full FT: the frozen copy

Turns and scoring
    generation.GenerationConfig(max_new_tokens=32, temperature=1.0 (0 = greedy), history_length=2,
                                max_turns=None)
    generation.generate(policy, prompts, cfg, generator) -> GenerationOutput   # all rows together, KV cache
    kv_cache.preallocated_cache(model, capacity) -> Cache | None   # buffers instead of torch.cat per token
    rollout.rollout(policy, tokenizer, pool, tasks, fmt, gen_cfg, generator, group_ids=None) -> Rollout
    rollout.Rollout: (B, T) mask rewards terminated valid switch subgoal_changed_on_keep value_low value_high
        value_term value_low_prev switch_prob; (B,) truncated won score length group_ids; task_ids task_types
        subgoals state_keys responses actions invalid_reasons infos horizons; turns: list[TurnTokens] (b, t order)
    rollout.TurnTokens(b, t, prompt_ids, response_ids, logprobs, block, value_low_pos (-1: prompt end),
                       switch_pos)
    scoring.score_turns(policy, turns, pad_id, temperature=1.0, reference=False) -> TurnScores
        TurnScores: logprobs entropy mask block (N, R); value_low value_high value_term value_low_prev
        switch_prob (N,). Same read positions as the rollout (tested equal).
    scoring.reference_logprobs(policy, turns, pad_id) -> (N, R)

Format
    formats.BLOCK_NONE/SWITCH/SUBGOAL/ACTION = 0/1/2/3; formats.render_response(fmt, action, subgoal, switch)
    parser.parse_response(text, fmt, admissible) -> ParsedTurn(valid, reason, switch_word, subgoal, action,
        spans); never raises. prompts.PromptState / render_prompt / encode_prompt.

Warm start and evaluation
    warmstart.WarmStartConfig (YAML, unknown keys rejected); warmstart.warm_start(cfg, out) -> dict
    evaluate.evaluate(policy, tasks, fmt, gen_cfg, batch_size, seed) -> EvalResult (per-episode table + summary)
"""
