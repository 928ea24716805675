export { accessTokenHash, DPOP_ALG, DpopClient, generateDpopKey, htuOf, isNonceChallenge, isResourceNonceChallenge, signProof, type DpopKey } from './proof.js';
export { DpopNonces } from './nonce.js';
export { PROOF_ALGS, ProofReplayCache, verifyProof, type ProofCheck, type ProofResult } from './verify.js';
