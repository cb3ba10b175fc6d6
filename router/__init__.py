"""The Edge-VoMID HTTP router: audio intake, auth, rate limits, and the voiceprint API in front of Triton."""
