/**
 * The message bus on Redis pub/sub: one channel per instance
 * (`{prefix}bus:{instanceId}`), so a publisher addresses exactly one instance,
 * Redis fans nothing out, and the PUBLISH reply (receiver count) tells the
 * sender at once whether the target is still alive. Messages travel as raw
 * bytes both ways: Buffer arguments out, a buffer-mode listener in.
 *
 * Subscribing happens on a dedicated connection (a subscribed connection can
 * run no other command); node-redis re-subscribes it after a reconnect.
 */
import type { RedisClientType } from 'redis'
import { ClusterError, ClusterErrorCode } from './errors.js'
import type { Lifecycle } from './lifecycle.js'
import { checkFunction } from './options.js'
import type { RedisKeys } from './redis-keys.js'
import type { MessageBus } from './types.js'

type BusHandler = (message: Buffer) => void

export class RedisBus implements MessageBus {
  readonly instanceId: string
  readonly #publisher: RedisClientType
  readonly #subscriber: RedisClientType
  readonly #keys: RedisKeys
  readonly #channel: string
  readonly #life: Lifecycle
  readonly #onError: (error: unknown) => void
  #handler: BusHandler | null = null

  constructor(
    instanceId: string,
    publisher: RedisClientType,
    subscriber: RedisClientType,
    keys: RedisKeys,
    life: Lifecycle,
    onError: (error: unknown) => void,
  ) {
    this.instanceId = instanceId
    this.#publisher = publisher
    this.#subscriber = subscriber
    this.#keys = keys
    this.#channel = keys.bus(instanceId)
    this.#life = life
    this.#onError = onError
  }

  async subscribe(handler: BusHandler): Promise<void> {
    this.#life.check()
    checkFunction('handler', handler)
    if (this.#handler !== null) {
      throw new ClusterError(ClusterErrorCode.BUS_SUBSCRIBED, `bus of instance ${this.instanceId} already has a handler`)
    }
    this.#handler = handler
    try {
      await this.#subscriber.subscribe(this.#channel, this.#listener, true)
    } catch (error) {
      this.#handler = null
      throw this.#life.fail(error)
    }
  }

  async publish(instanceId: string, message: Buffer): Promise<boolean> {
    this.#life.check()
    try {
      return (await this.#publisher.publish(this.#keys.bus(instanceId), message)) > 0
    } catch (error) {
      throw this.#life.fail(error)
    }
  }

  /**
   * Stops delivery and tells Redis, so a PUBLISH issued after this resolves
   * counts no receiver here. Best effort: a dead connection has no
   * subscription left to remove.
   */
  async unsubscribe(): Promise<void> {
    if (this.#handler === null) return
    this.#handler = null
    if (this.#subscriber.isReady) await this.#subscriber.unsubscribe(this.#channel, this.#listener, true)
  }

  /**
   * One listener for the bus's lifetime. A throwing handler must not escape:
   * node-redis would take it for a parser failure and reset its decoder.
   */
  readonly #listener = (message: Buffer): void => {
    const handler = this.#handler
    if (handler === null) return
    try {
      handler(message)
    } catch (error) {
      this.#onError(error)
    }
  }
}
